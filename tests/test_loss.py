"""The chunked head + cross-entropy against the full-logit path: loss, gradients, memory, determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import tolerance

from unicode_substrate.model import loss as loss_mod
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.model.gpt import GPT
from unicode_substrate.model.loss import chunk_tokens, chunked_cross_entropy


def _full(hidden, weight, targets):
    """The path before chunking, as GPT.forward computed it."""
    logits = hidden @ weight.T
    return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)


def _case(shape, V, d, ignore, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(*shape, d, generator=g)
    weight = torch.randn(V, d, generator=g) * 0.5
    targets = torch.randint(0, V, shape, generator=g)
    if ignore == "some":
        targets.view(-1)[1::3] = -100  # the first token counts, so the loss is defined
    elif ignore == "all":
        targets.fill_(-100)
    return hidden, weight, targets


# (token shape, V, d_model, chunk): tokens not divisible by the chunk, odd vocabularies, one token,
# a chunk larger than the batch, and chunk 1.
CASES = [
    ((2, 13), 51, 24, 8),
    ((37,), 1001, 16, 16),
    ((1, 1), 7, 5, 4),
    ((3, 5), 97, 12, 64),
    ((2, 3), 11, 6, 1),
]


@pytest.mark.parametrize("ignore", ["none", "some", "all"])
@pytest.mark.parametrize("shape,V,d,chunk", CASES)
def test_loss_and_gradients_equal_the_full_path(shape, V, d, chunk, ignore):
    hidden, weight, targets = _case(shape, V, d, ignore)
    results = []
    for fn in (lambda h, w: chunked_cross_entropy(h, w, targets, chunk), lambda h, w: _full(h, w, targets)):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        loss = fn(h, w)
        loss.backward()
        results.append((loss.detach(), h.grad, w.grad))
    (loss, gh, gw), (want, gh_want, gw_want) = results
    if ignore == "all":  # 0/0, as F.cross_entropy gives, and no gradient at all
        assert loss.isnan() and want.isnan()
        assert not gh.any() and not gw.any() and not gh_want.any() and not gw_want.any()
        return
    assert loss.dtype == torch.float32 and loss.shape == ()
    torch.testing.assert_close(loss, want, **tolerance(torch.float32))
    torch.testing.assert_close(gh, gh_want, **tolerance(torch.float32))
    torch.testing.assert_close(gw, gw_want, **tolerance(torch.float32))


def test_nothing_of_size_tokens_times_vocabulary_is_saved():
    # The chunked loss keeps the gradients it computed ([N, d] and [V, d]); the full path saves N x V.
    N, V, d = 64, 1000, 16
    hidden, weight, targets = _case((N,), V, d, "some")
    for fn, fits in ((lambda h, w: chunked_cross_entropy(h, w, targets, 16), True), (lambda h, w: _full(h, w, targets), False)):
        sizes = []

        def pack(t):
            sizes.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(hidden.requires_grad_(), weight.requires_grad_())
        assert (max(sizes) < N * V) == fits, sizes


@pytest.mark.parametrize("chunk", [5, 64])  # several chunks; one chunk (the matmuls wait for the backward)
def test_the_upstream_gradient_scales_what_the_forward_computed(chunk):
    # The gradients are formed in the forward; a scaled loss (grad accumulation divides it) and a
    # second backward through a retained graph must still match the full path.
    hidden, weight, targets = _case((3, 7), 53, 8, "some")
    grads = []
    for fn in (lambda h, w: chunked_cross_entropy(h, w, targets, chunk), lambda h, w: _full(h, w, targets)):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        loss = fn(h, w) * 0.25
        loss.backward(retain_graph=True)
        (loss * 3.0).backward()
        grads.append((h.grad, w.grad))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, **tolerance(torch.float32))


def test_no_grad_computes_the_loss_alone():
    hidden, weight, targets = _case((2, 9), 41, 6, "some")
    with torch.no_grad():
        loss = chunked_cross_entropy(hidden.requires_grad_(), weight.requires_grad_(), targets, 4)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, _full(hidden, weight, targets).detach(), **tolerance(torch.float32))


def test_chunk_size_follows_the_vocabulary():
    assert chunk_tokens(65_536) == 256 and chunk_tokens(131_072) == 128
    assert chunk_tokens(50_257) % 16 == 0 and chunk_tokens(50_257) * 50_257 <= loss_mod.CHUNK_ELEMENTS
    assert chunk_tokens(10**9) == 16  # never below one matmul tile


def test_bad_input_is_refused():
    hidden, weight, targets = _case((2, 5), 11, 6, "none")
    with pytest.raises(ValueError, match="disagree on the tokens"):
        chunked_cross_entropy(hidden, weight, targets[:, :4])
    with pytest.raises(ValueError, match="chunk must be a positive"):
        chunked_cross_entropy(hidden, weight, targets, 0)
    with pytest.raises(ValueError, match="autocast is off"):
        chunked_cross_entropy(hidden, weight.double(), targets)


def test_autocast_bf16_matches_the_full_path():
    # Under autocast both paths run the head matmul in bf16 and the loss in fp32; the weight's
    # gradient comes back in the parameter's fp32.
    hidden, weight, targets = _case((4, 9), 301, 32, "some")
    results = []
    for fn in (lambda h, w: chunked_cross_entropy(h, w, targets, 16), lambda h, w: _full(h, w, targets)):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = fn(h, w)
        loss.backward()
        results.append((loss.detach(), h.grad, w.grad))
    (loss, gh, gw), (want, gh_want, gw_want) = results
    assert loss.dtype == torch.float32 and gw.dtype == torch.float32 and gh.dtype == torch.float32
    torch.testing.assert_close(loss, want, **tolerance(torch.bfloat16))
    torch.testing.assert_close(gh, gh_want, **tolerance(torch.bfloat16))
    torch.testing.assert_close(gw, gw_want, **tolerance(torch.bfloat16))


def _tiny(seed=0) -> GPT:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=97, d_model=32, n_layer=2, n_head=4, context=16, n_embed=16, embedding="trainable")
    return GPT(cfg, backend="torch")


@pytest.mark.parametrize("ignore", ["some", "all"])
def test_gpt_training_loss_and_every_gradient_equal_the_full_path(monkeypatch, ignore):
    # A small chunk budget makes the loss walk over several uneven chunks (2 x 13 tokens by 16).
    monkeypatch.setattr(loss_mod, "CHUNK_ELEMENTS", 97 * 16)
    ids = torch.randint(0, 97, (2, 13), generator=torch.Generator().manual_seed(3))
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100
    targets[0, :4] = -100
    if ignore == "all":
        targets.fill_(-100)
    models = [_tiny(), _tiny()]
    models[1].full_logit_loss = True
    outs = [m(ids, targets) for m in models]
    assert outs[0][0] is None and outs[1][0].shape == (2, 13, 97)  # training returns no logits
    for _, loss in outs:
        loss.backward()
    if ignore == "all":
        assert outs[0][1].isnan() and outs[1][1].isnan()
    else:
        torch.testing.assert_close(outs[0][1], outs[1][1], **tolerance(torch.float32))
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters()):
        torch.testing.assert_close(p.grad, q.grad, **tolerance(torch.float32), msg=name)


def test_gpt_loss_is_deterministic_and_generation_still_gets_logits(monkeypatch):
    monkeypatch.setattr(loss_mod, "CHUNK_ELEMENTS", 97 * 16)
    ids = torch.randint(0, 97, (3, 11), generator=torch.Generator().manual_seed(4))
    runs = []
    for _ in range(2):
        model = _tiny()
        _, loss = model(ids, ids)
        loss.backward()
        runs.append([loss.detach()] + [p.grad for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))  # bit for bit, as exact resume needs
    logits, none = _tiny().eval()(ids)
    assert none is None and logits.shape == (3, 11, 97)
