"""The key/value cache of GPT.generate: the same tokens as recomputing the whole context every step."""

from __future__ import annotations

import pytest
import torch

from conftest import tolerance
from unicode_substrate.model.config import ModelConfig
from unicode_substrate.model.gpt import GPT


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(embedding: str = "trainable") -> GPT:
    cfg = ModelConfig(vocab_size=61, d_model=32, n_layer=2, n_head=2, context=16, n_embed=16, embedding=embedding)
    torch.manual_seed(0)
    table = torch.nn.functional.normalize(torch.randn(61, 16), dim=1) if embedding == "frozen" else None
    return GPT(cfg, table=table, backend="torch").eval()


@pytest.mark.parametrize("embedding", ["trainable", "frozen"])
@pytest.mark.parametrize("prompt_len,new", [(1, 6), (5, 11), (9, 20)])  # 9 + 20 outgrows the 16-token context
def test_greedy_with_and_without_cache_identical(embedding, prompt_len, new):
    model = _model(embedding)
    ids = torch.randint(0, 61, (3, prompt_len), generator=torch.Generator().manual_seed(prompt_len))
    a = model.generate(ids, new, temperature=0, use_cache=True)
    b = model.generate(ids, new, temperature=0, use_cache=False)
    assert a.shape == (3, prompt_len + new)
    assert torch.equal(a, b)


def test_sampling_with_and_without_cache_identical_for_one_seed():
    model = _model()
    ids = torch.randint(0, 61, (4, 3), generator=torch.Generator().manual_seed(0))
    a = model.generate(ids, 10, temperature=1.0, top_k=20, generator=torch.Generator().manual_seed(7))
    b = model.generate(ids, 10, temperature=1.0, top_k=20, generator=torch.Generator().manual_seed(7), use_cache=False)
    assert torch.equal(a, b)


def test_cached_logits_equal_one_full_forward():
    model = _model("frozen")
    ids = torch.randint(0, 61, (2, 12), generator=torch.Generator().manual_seed(1))
    cache = [{} for _ in model.blocks]
    with torch.no_grad():
        full, _ = model(ids)
        parts = [model.forward_cached(ids[:, a:b], cache) for a, b in ((0, 5), (5, 6), (6, 12))]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, **tolerance(torch.float32))
    with pytest.raises(ValueError, match="exceeds the model context"):
        model.forward_cached(ids[:, :5], cache)  # 12 + 5 > 16


def test_last_only_logits_are_the_last_row():
    model = _model()
    ids = torch.randint(0, 61, (2, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model.forward_cached(ids, [{} for _ in model.blocks])
        last = model.forward_cached(ids, [{} for _ in model.blocks], last_only=True)
    assert last.shape == (2, 1, 61)
    torch.testing.assert_close(last, full[:, -1:], **tolerance(torch.float32))
