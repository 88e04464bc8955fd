"""Corpus text that spells a special token: plain characters by default (as split_special_tokens), matched on request."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _cli_helpers import run_cli
from _tokenizer_helpers import build_small, pair

LITERALS = ["<unk>", "</s>", "<s>", "[INST]", "<pad>", "<unk>a", "x</s>y", "<</s>>", "a<unk>b</s>"]
TEXTS = LITERALS + ["the end </s> of <unk> and 😀 there", "plain text without any", "", "</s></s><unk>"]


@pytest.fixture(scope="module", params=["lossless", "bvv241-2-3"])
def tok_dir(request, tmp_path_factory):
    return build_small(tmp_path_factory.mktemp("special") / "tok", layout=request.param)


@pytest.mark.parametrize("native", [True, False])
def test_split_special_tokens_is_the_librarys_encode_special_tokens(tok_dir, native):
    ours, hf = pair(tok_dir, native=native)
    specials = {ours.token_to_id(t) for t in ("</s>", "<s>", "<pad>", "[INST]")}
    hf.encode_special_tokens = True
    for text in TEXTS:
        split = ours.encode(text, split_special_tokens=True)
        assert split == hf.encode(text, add_special_tokens=False).ids, text
        assert not specials & set(split), text  # no separator, no BOS, no instruction marker from plain text
        lost = ours.count_unknown(text)  # bvv layouts have no id for the emoji: one <unk> each, nothing else lost
        assert ours.decode(split) == (text.replace("😀", "<unk>") if lost else text), text
    batch = ours.encode_batch(TEXTS * 50, workers=2, as_array=True, split_special_tokens=True)
    assert [list(b) for b in batch[: len(TEXTS)]] == [ours.encode(t, split_special_tokens=True) for t in TEXTS]
    # the default still matches specials atomically, as the library does by default
    hf.encode_special_tokens = False
    assert ours.encode("a</s>b") == hf.encode("a</s>b", add_special_tokens=False).ids
    assert ours.token_to_id("</s>") in ours.encode("a</s>b")


def test_count_unknown_counts_characters_without_an_id_only(tok_dir):
    ours, _ = pair(tok_dir)
    assert ours.count_unknown("<unk> </s> <unk>") == 0
    assert ours.count_unknown("a😀b😀\U00010400") == (3 if "bvv" in ours.layout else 0)  # lossless has every character
    assert ours.count_unknown("") == 0


def _prepare(tmp_path, tok_dir, texts, *extra, name="data"):
    corpus = tmp_path / f"{name}.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / name
    r = run_cli("prepare", "--corpus", corpus, "--tokenizer", tok_dir, "--out", out, "--val-every", "2", *extra)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    ids = np.concatenate([np.fromfile(out / f"{s}.bin", dtype=m["dtype"]) for s in ("train", "val")])
    return r, m, ids


def test_prepare_reads_literal_specials_as_text_and_warns_only_of_real_unknowns(tmp_path, tok_dir):
    from unicode_substrate.tokenizer import Tokenizer

    tok = Tokenizer.load(tok_dir)
    texts = ["a line with </s> inside and <unk> too " * 3, "more </s></s> text <s> [INST] here " * 3] * 3
    r, m, ids = _prepare(tmp_path, tok_dir, texts)
    sep, unk = tok.token_to_id("</s>"), tok.token_to_id("<unk>")
    # separators: exactly one between consecutive documents of each split (6 documents: 3 train, 3 validation)
    assert int(np.count_nonzero(ids == sep)) == 4
    assert m["special_tokens"] == "text" and m["unknown"]["tokens"] == 0 and unk not in set(ids.tolist())
    assert "warning" not in r.output
    if "bvv" in tok.layout:  # a character without id: counted and warned about, the literal <unk> beside it is not
        r2, m2, _ = _prepare(tmp_path, tok_dir, [t + "😀" for t in texts], name="emoji")
        assert m2["unknown"]["tokens"] == 6 and "warning: 6 of" in r2.output


def test_prepare_can_match_specials_on_purpose(tmp_path, tok_dir):
    from unicode_substrate.tokenizer import Tokenizer

    tok = Tokenizer.load(tok_dir)
    texts = ["one </s> two <unk> three " * 2] * 4
    r, m, ids = _prepare(tmp_path, tok_dir, texts, "--special-tokens", "special")
    assert m["special_tokens"] == "special"
    assert int(np.count_nonzero(ids == tok.token_to_id("</s>"))) == 4 * 2 + 2  # 2 per document + 2 separators
    assert int(np.count_nonzero(ids == tok.token_to_id("<unk>"))) == 8
    assert m["unknown"]["tokens"] == 0 and "warning" not in r.output  # a matched <unk> is no lost character
