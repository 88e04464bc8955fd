"""The model: parameter counts against the paper (SPEC C / B.2), the frozen table, causality, generation."""

from __future__ import annotations

import pytest
import torch

from unicode_substrate.model import GPT, get_preset
from unicode_substrate.train.trainer import param_groups

# The paper's counts in millions, which are the exact counts rounded down. We count every
# parameter: the frozen table (as the paper does, although it is a buffer with no gradient),
# the untied head, and the biases and LayerNorm gains/biases (13 * d_model per block plus
# 2 * d_model for the final norm = 210,944 in all, 0.06% of the total).
PAPER_MILLIONS = {
    "uni-glyph-335m": 335, "unfrozen-335m": 335, "bit-1024": 335, "float-1024": 335,
    "bit-256": 285, "float-256": 285, "bit-64": 272, "float-64": 272, "bit-16": 269, "float-16": 269,
}


def _meta_model(name: str) -> GPT:
    cfg = get_preset(name)
    with torch.device("meta"):  # shapes only: no 1.3 GB allocation, no initialisation cost
        table = torch.empty(cfg.vocab_size, cfg.n_embed) if cfg.embedding == "frozen" else None
        return GPT(cfg, table=table)


@pytest.mark.parametrize("name", sorted(PAPER_MILLIONS))
def test_parameter_counts_match_the_paper(name):
    cfg = get_preset(name)
    model = _meta_model(name)
    total = model.num_parameters()
    d, v, L = cfg.d_model, cfg.vocab_size, cfg.n_layer
    biases_and_norms = L * 13 * d + 2 * d
    input_embedding = v * (cfg.n_embed if cfg.embedding == "frozen" else d)
    assert total == input_embedding + v * d + L * 12 * d * d + biases_and_norms
    assert total // 10**6 == PAPER_MILLIONS[name]
    if name == "uni-glyph-335m":
        # SPEC C's formula 2*V*d + L*12*d^2 is the count without biases and norms.
        assert total - biases_and_norms == 2 * 65536 * 1024 + 16 * 12 * 1024**2 == 335_544_320
        assert total == 335_759_360
    trainable = model.num_parameters(trainable_only=True)
    assert trainable == total - (input_embedding if cfg.embedding == "frozen" else 0)


def _tiny(embedding: str = "frozen", seed: int = 0) -> GPT:
    cfg = get_preset("tiny-glyph" if embedding == "frozen" else "tiny-unfrozen",
                     vocab_size=50, d_model=32, n_layer=2, n_head=4, context=12, n_embed=8)
    torch.manual_seed(seed)
    table = torch.nn.functional.normalize(torch.randn(50, 8), dim=1) if embedding == "frozen" else None
    return GPT(cfg, table=table)


def test_frozen_table_has_no_gradient_no_optimizer_state_and_is_not_saved():
    model = _tiny("frozen")
    table = model.embed.weight
    assert not table.requires_grad
    assert all(p is not table for p in model.parameters())
    groups = param_groups(model, 0.1)
    in_opt = {id(p) for g in groups for p in g["params"]}
    assert id(table) not in in_opt and len(in_opt) == len(list(model.parameters()))
    no_decay = {id(p) for p in groups[1]["params"]}
    named = dict(model.named_parameters())
    assert no_decay == {id(p) for n, p in named.items() if n.endswith("bias") or ".ln" in n or n.startswith("ln_f")}
    assert "embed.weight" not in model.state_dict()  # the table directory is its source of truth
    ids = torch.randint(0, 50, (2, 12))
    _, loss = model(ids, ids)
    loss.backward()
    assert table.grad is None and model.head.weight.grad is not None
    opt = torch.optim.AdamW(groups, lr=1e-3)
    opt.step()
    state_elems = sum(t.numel() for s in opt.state.values() for t in s.values() if t.ndim > 0)
    assert state_elems == 2 * model.num_parameters(trainable_only=True)


def test_trainable_baseline_learns_its_embedding():
    model = _tiny("trainable")
    assert model.embed.weight.requires_grad
    assert model.num_parameters() == model.num_parameters(trainable_only=True)
    ids = torch.randint(0, 50, (2, 12))
    model(ids, ids)[1].backward()
    assert model.embed.weight.grad is not None and model.embed.weight.grad.abs().sum() > 0


def test_lift_repeats_each_table_coordinate():
    model = _tiny("frozen")
    ids = torch.tensor([[3, 7]])
    x = model.embed(ids)
    assert x.shape == (1, 2, 32)
    torch.testing.assert_close(x[0, 0].view(8, 4), model.embed.weight[3][:, None].expand(8, 4))


@pytest.mark.parametrize("embedding", ["frozen", "trainable"])
def test_causal_future_tokens_do_not_change_past_logits(embedding):
    model = _tiny(embedding).eval()
    ids = torch.randint(0, 50, (1, 12))
    changed = ids.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % 50
    a, _ = model(ids)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_loss_is_cross_entropy_and_ignores_minus_100():
    model = _tiny().eval()
    ids = torch.randint(0, 50, (2, 12))
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100
    logits, _ = model(ids)
    _, loss = model(ids, targets)
    want = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 50), targets[:, :-1].reshape(-1))
    torch.testing.assert_close(loss, want)
    with pytest.raises(ValueError, match="exceeds the model context"):
        model(torch.zeros(1, 13, dtype=torch.long))


def test_generate_greedy_is_deterministic_and_crops_to_context():
    model = _tiny().eval()
    prompt = torch.randint(0, 50, (2, 10))
    out = model.generate(prompt, 8, temperature=0)
    assert out.shape == (2, 18) and torch.equal(out[:, :10], prompt)
    assert torch.equal(out, model.generate(prompt, 8, temperature=0))
    # greedy step = argmax of the logits at the last position of the (cropped) context
    logits, _ = model(out[:, -12 - 1 : -1])
    assert torch.equal(out[:, -1], logits[:, -1].argmax(-1))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    s1 = model.generate(prompt, 5, temperature=1.0, top_k=5, generator=g1)
    assert torch.equal(s1, model.generate(prompt, 5, temperature=1.0, top_k=5, generator=g2))
    assert int(s1.max()) < 50
