"""The output head and cross-entropy in chunks of tokens, so [tokens, vocabulary] never exists in fp32.

The full-logit path (``F.cross_entropy(head(h).float(), y)``) holds the fp32 logits of the whole
batch, their log-softmax for the backward and then their gradient: at the paper's 16 x 1024
tokens and 65,536 ids that is 4.3 GB for each. Here the forward walks over chunks of tokens and,
when gradients are wanted, computes them on the way (the loss is a scalar at the end of the
graph, so its gradient needs nothing from later): per chunk the logits, their log-softmax, the
loss, and then in place the logit gradient and the two gradient matmuls. With z = h W^T (one row
per token), p = softmax(z), the one-hot target y and the mean over the N counted tokens,
    loss = (1/N) sum_n [lse(z_n) - z_n[y_n]]
    dz_n = (p_n - y_n) / N           (zero for an ignored token)
    dh_n = dz_n W                    dW = sum_n dz_n^T h_n
The backward only multiplies dh and dW by the upstream gradient (the loss is linear in it), in
place, and hands them over. So the head costs three matmuls, as in the full path, not four (no
logits recomputed), and the peak is two reused chunk buffers (``chunk`` x V fp32, 64 MiB each by
default), not N x V; what is kept for the backward is dh [N, d_model] and dW [V, d_model], the
sizes of the gradients (a second backward through a retained graph recomputes them). When all
tokens fit one fp32 chunk, the forward stops at dz and the backward scales dz [N, V] (smaller
than [V, d_model] when N < d_model) and runs the two gradient matmuls.
Under ``no_grad`` (validation) the walk computes the loss alone.

Precision follows the full path under autocast: the matmuls run in the autocast dtype (bf16 on
the trainer's GPU path), the softmax and loss in fp32, and the head-weight gradient is summed
over chunks in fp32. Chunks are visited in a fixed order, so the result is deterministic.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100
# Logit elements per chunk: 2^24 fp32 values are 64 MiB; 256 tokens at a 65,536-id vocabulary.
CHUNK_ELEMENTS = 1 << 24


def chunk_tokens(vocab_size: int) -> int:
    """Tokens per chunk for this vocabulary: about CHUNK_ELEMENTS logits, a multiple of 16 for the matmul."""
    return max(16, CHUNK_ELEMENTS // max(vocab_size, 1) // 16 * 16)


def _defers(hidden: torch.Tensor, weight: torch.Tensor, chunk: int, want: bool) -> bool:
    """Whether the gradient matmuls wait for the backward: fp32 and all tokens in one chunk, where
    the [N, V] logit gradient is the one buffer anyway and 1/4 of the [V, d] weight gradient at
    N = 256, d = 1,024, so the upstream gradient scales it instead of the weight gradient."""
    return want and hidden.shape[0] <= chunk and hidden.dtype == weight.dtype == torch.float32


def _walk(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int, want_h: bool,
          want_w: bool, defer: bool = False):
    """(mean loss, d loss / d hidden or None, d loss / d weight in fp32 or None), chunk by chunk;
    with ``defer`` (one chunk), (mean loss, d loss / d logits [N, V]) and no gradient matmul."""
    # hidden size: (N, d_model); weight size: (V, d_model); targets size: (N,)
    n = hidden.shape[0]
    keep_all = targets != IGNORE_INDEX
    count = keep_all.sum()
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_h = torch.empty_like(hidden) if want_h and not defer else None
    # In fp32 the first chunk's matmul writes grad_w whole, so it need not be zero-filled first.
    first_writes = hidden.dtype == torch.float32 and n > 0
    grad_w = None
    if want_w and not defer:
        grad_w = (torch.empty if first_writes else torch.zeros)(weight.shape, dtype=torch.float32, device=weight.device)
    # d loss / d z_n = (p_n - y_n) / N, zero for an ignored token (0 * inf is avoided by where).
    row_scale = torch.where(keep_all, 1.0 / count.float(), 0.0)
    # Two [chunk, V] fp32 buffers reused by every chunk: a fresh 64 MiB tensor per chunk costs
    # its page faults again on CPU (glibc maps large blocks anew), as much as the softmax itself.
    rows = min(chunk, n)
    logits_buf = torch.empty(rows, weight.shape[0], dtype=torch.float32, device=hidden.device)
    logp_buf = torch.empty_like(logits_buf) if want_h or want_w else None
    for s in range(0, n, chunk):
        h = hidden[s : s + chunk]
        t = targets[s : s + chunk]
        keep = keep_all[s : s + chunk]
        safe = torch.where(keep, t, 0)[:, None]
        logits = logits_buf[: h.shape[0]]
        if h.dtype == torch.float32 and weight.dtype == torch.float32:
            torch.mm(h, weight.T, out=logits)
        else:
            logits.copy_(h @ weight.T)  # the matmul in the autocast dtype, the softmax in fp32
        if logp_buf is None:  # evaluation: the loss alone
            picked = logits.gather(1, safe).squeeze(1)
            total += torch.where(keep, torch.logsumexp(logits, dim=-1) - picked, 0.0).sum()
            continue
        logp = torch.log_softmax(logits, dim=-1, out=logp_buf[: h.shape[0]])
        total -= torch.where(keep, logp.gather(1, safe).squeeze(1), 0.0).sum()
        # dz = (softmax - onehot) * row scale, formed in place in the log-probabilities.
        dz = logp.exp_()
        dz.scatter_add_(1, safe, -keep[:, None].float())
        dz.mul_(row_scale[s : s + chunk, None])
        if defer:
            return total / count, dz
        dz = dz.to(hidden.dtype)
        if grad_h is not None:
            torch.mm(dz, weight, out=grad_h[s : s + chunk])
        if grad_w is not None:
            if first_writes and s == 0:
                torch.mm(dz.T, h, out=grad_w)  # the first chunk writes, so no zeros are filled
            elif dz.dtype == torch.float32:
                grad_w.addmm_(dz.T, h)
            else:
                grad_w += dz.T @ h  # the matmul in the autocast dtype, the sum over chunks in fp32
    return total / count, grad_h, grad_w  # 0/0 = nan when every target is ignored, as F.cross_entropy gives


class _ChunkedHeadCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets``, chunk by chunk; see the module docstring."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int,
                with_grad: bool) -> torch.Tensor:
        want_h, want_w = with_grad and ctx.needs_input_grad[0], with_grad and ctx.needs_input_grad[1]
        ctx.defer = _defers(hidden, weight, chunk, want_h or want_w)
        loss, *state = _walk(hidden, weight, targets, chunk, want_h, want_w, ctx.defer)
        # The gradients are held on ctx, not saved: the backward scales them in place and hands
        # them over (a [V, d_model] product would be one more pass over fresh, page-faulting
        # memory per step). A second backward through a retained graph recomputes them from the
        # inputs, which are saved at no cost (the final states and the head weight live anyway).
        ctx.save_for_backward(hidden, weight, targets)
        ctx.state, ctx.chunk, ctx.want = state, chunk, (want_h, want_w)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        state, ctx.state = ctx.state, None
        if state is None:  # a second backward through a retained graph
            hidden, weight, targets = ctx.saved_tensors
            with torch.no_grad():
                state = _walk(hidden, weight, targets, ctx.chunk, *ctx.want, ctx.defer)[1:]
        # The loss is linear in the upstream gradient: scale what the forward computed.
        g = grad_loss.float()
        if ctx.defer:
            (dz,), (want_h, want_w) = state, ctx.want
            hidden, weight, _ = ctx.saved_tensors
            dz = dz.mul_(g)
            del state
            return (dz @ weight if want_h else None), (dz.T @ hidden if want_w else None), None, None, None
        grad_h, grad_w = state
        gh = None if grad_h is None else grad_h.mul_(g.to(grad_h.dtype))
        gw = None if grad_w is None else grad_w.mul_(g).to(ctx.weight_dtype)
        del state, grad_h, grad_w
        return gh, gw, None, None, None


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                          chunk: int | None = None) -> torch.Tensor:
    """Mean cross-entropy (ignore_index -100) of the logits ``hidden @ weight.T``, never all held at once.

    ``hidden`` [..., d_model], ``weight`` [V, d_model] (a bias-free head), ``targets`` [...] of the
    same leading shape. Equals ``F.cross_entropy((hidden @ weight.T).float().view(-1, V),
    targets.view(-1), ignore_index=-100)`` and its gradients, in ``chunk`` tokens at a time
    (default :func:`chunk_tokens`). Under autocast the matmuls run in the autocast dtype.
    """
    if hidden.shape[:-1] != targets.shape:
        raise ValueError(f"hidden {tuple(hidden.shape)} and targets {tuple(targets.shape)} disagree on the tokens")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be a positive number of tokens, got {chunk}")
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        # What autocast does to a Linear: both operands in its dtype, through differentiable casts.
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    elif hidden.dtype != weight.dtype:
        raise ValueError(f"hidden {hidden.dtype} and head weight {weight.dtype} differ (and autocast is off)")
    flat = hidden.reshape(-1, hidden.shape[-1])
    with torch.autocast(device, enabled=False):
        return _ChunkedHeadCrossEntropy.apply(flat, weight, targets.reshape(-1), chunk or chunk_tokens(weight.shape[0]),
                                              torch.is_grad_enabled())
