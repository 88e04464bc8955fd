"""Layout invariants, the paper's layouts id for id (known answers from SPEC A), files, determinism."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer

from _tokenizer_helpers import build_small
from unicode_substrate.artifacts import verify_manifest
from unicode_substrate.tokenizer import SPECIALS, Tokenizer, build_tokenizer
from unicode_substrate.tokenizer import ngrams as ngram_stats
from unicode_substrate.tokenizer.layout import BYTE_BASE, LAYOUTS, is_monogram_id


@pytest.fixture(scope="module")
def paper_23(tmp_path_factory, reference_dir):
    out = tmp_path_factory.mktemp("p23") / "tok"
    return build_tokenizer(out, "bvv241-2-3", ngrams=reference_dir / "n-gramms-2-3.txt")


@pytest.fixture(scope="module")
def paper_max(tmp_path_factory, reference_dir):
    out = tmp_path_factory.mktemp("pmax") / "tok"
    return build_tokenizer(
        out, "bvv241-max", ngrams=reference_dir / "n-gramms-2-3-4-5.txt", intersection=reference_dir / "n-gramms-intersection.txt"
    )


def check_invariants(directory, layout):
    """Ids below the vocabulary size, each string once, monograms at their code points, specials at 0xE000+."""
    spec = LAYOUTS[layout]
    tok = Tokenizer.load(directory)
    tokens = tok.tokens()
    assert tok.vocab_size == spec.vocab_size == len(tokens)
    assert len(set(tokens)) == len(tokens), "a string has two ids"
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    assert sorted(vocab.values()) == list(range(spec.vocab_size))
    assert all(tokens[i] == t for t, i in vocab.items())
    monograms = [i for i in range(0x10000) if is_monogram_id(i)]
    assert len(monograms) == 57087
    assert all(tokens[i] == chr(i) for i in monograms)
    assert tokens[0xE000 : 0xE000 + 23] == list(SPECIALS)
    assert tokens[0xE016] == "[FILE_SEP]"
    assert all(tokens[i] == f"<special_token_{i}>" for i in range(0xE017, 0xE100))
    assert tokens[0xFFFF] == "<unused_65535>"
    hf = HFTokenizer.from_file(str(directory / "tokenizer.json"))
    assert hf.get_vocab_size() == spec.vocab_size
    added = {a.content: i for i, a in hf.get_added_tokens_decoder().items()}
    assert added == {s: 0xE000 + k for k, s in enumerate(SPECIALS)}
    return tok


def test_paper_2_3_known_answers(paper_23):
    tok = check_invariants(paper_23, "bvv241-2-3")
    m = verify_manifest(paper_23, kind="tokenizer")
    assert (m["n_ngrams"], m["n_placed"], m["n_merges"], m["dropped"]) == (8177, 8177, 12224, [])
    assert m["parameters"]["top_cnt"] == 338
    t = tok.tokens()
    # Placement: longest first, then by code points; 0xD800 gets the first, 0xE100 the 2049th.
    placed = t[0xD800:0xE000] + t[0xE100:0xF8F1]
    assert len(placed) == 8177 and placed == sorted(placed, key=lambda g: (-len(g), g))
    assert t[0xD800] == '"으로' and t[0xF8F0] == "？」"
    assert t[0xF8F1:0xF900] == [f"<unused_{i}>" for i in range(0xF8F1, 0xF900)]  # the last 15 slots
    merges = (paper_23 / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2" and len(merges) == 1 + 12224
    assert tok.encode("the") == [tok.token_to_id("the")]
    assert tok.encode("😀") == [0xE003]  # the paper's layout loses astral characters to <unk>


@pytest.mark.slow
def test_paper_max_known_answers(paper_max, reference_dir):
    tok = check_invariants(paper_max, "bvv241-max")
    m = verify_manifest(paper_max, kind="tokenizer")
    assert (m["n_ngrams"], m["n_placed"], m["n_merges"], len(m["dropped"])) == (73768, 73727, 182678, 41)
    t = tok.tokens()
    placed = t[0xD800:0xE000] + t[0xE100:0xF900] + t[0x10000:0x1FFFF]
    assert len(placed) == 73727 and placed == sorted(placed, key=lambda g: (-len(g), g))
    assert t[0xD800] == "*" * 72 and t[0x1FFFE] == "，最"
    assert t[0x1FFFF] == "<unused_131071>"
    # The dropped grams are the 41 that follow the last placed one in placement order.
    union = ngram_stats.select(ngram_stats.load(reference_dir / "n-gramms-2-3-4-5.txt"), 906)
    assert len(union) == 59955
    union |= set(ngram_stats.load_intersection(reference_dir / "n-gramms-intersection.txt"))
    order = sorted(union, key=lambda g: (-len(g), g))
    assert placed == order[:73727] and m["dropped"] == order[73727:]


def test_lossless_layout_invariants(tmp_path):
    d = build_small(tmp_path / "ll")
    tok = check_invariants(d, "lossless")
    t = tok.tokens()
    assert t[BYTE_BASE : BYTE_BASE + 256] == [f"<0x{b:02X}>" for b in range(256)]
    config = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    assert config["model"]["byte_fallback"] is True
    assert config["decoder"]["decoders"] == [{"type": "ByteFallback"}, {"type": "Fuse"}]
    # Grams that start with a byte token's spelling are placed but no merge builds them from a byte
    # token: byte fallback never glues onto text (grams with characters without an id are refused).
    merges = [m.split(" ") for m in (d / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]]
    assert "ßx" in t and "<0x41>x" in t and "<unk>a" in t
    opaque = {"😀", "<unk>", *t[BYTE_BASE : BYTE_BASE + 256]}
    assert not any(a in opaque or b in opaque for a, b in merges)
    assert tok.fast and tok.encode("A") == [0x41] and tok.encode("<0x41>x") == [ord(c) for c in "<0x41>x"]


@pytest.mark.slow
def test_default_lossless_build_mines_builtin_corpus(tmp_path):
    d = build_tokenizer(tmp_path / "tok")
    m = verify_manifest(d, kind="tokenizer")
    assert m["layout"] == "lossless" and m["ngrams"]["source"] == "builtin-corpus"
    assert m["n_placed"] == 4000 and m["vocab_size"] == 65536
    tok = Tokenizer.load(d)
    assert tok.token_to_id("the") is not None and tok.decode(tok.encode("Return the value 😀")) == "Return the value 😀"
    hf = HFTokenizer.from_file(str(d / "tokenizer.json"))
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)  # every scalar value in one text
    ids = tok.encode(text)
    assert ids == hf.encode(text).ids
    assert tok.decode(ids) == text == hf.decode(ids, skip_special_tokens=False)


def test_build_is_deterministic_and_files_complete(tmp_path):
    a, b = build_small(tmp_path / "a"), build_small(tmp_path / "b")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "vocab.txt", "manifest.json"])
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert Tokenizer.load(a).manifest_sha256 == Tokenizer.load(b).manifest_sha256


def test_build_is_deterministic_across_processes(tmp_path):
    """String hashing is salted per process; nothing in a build may depend on set or dict order."""
    import os
    import subprocess
    import sys

    from _tokenizer_helpers import write_small_stats

    stats = write_small_stats(tmp_path / "stats.txt")
    code = "import sys; from unicode_substrate.tokenizer import build_tokenizer; build_tokenizer(sys.argv[1], ngrams=sys.argv[2])"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / seed), str(stats)], check=True, env=env)
    assert all((tmp_path / "1" / p.name).read_bytes() == p.read_bytes() for p in (tmp_path / "2").iterdir())


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from unicode_substrate.tokenizer import build as build_module

    def broken(d, vocab):
        (d / "tokenizer.json").write_text("{}", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(build_module, "_write_files", broken)
    with pytest.raises(OSError):
        build_small(tmp_path / "tok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok-stats.txt"]


def test_paper_build_is_deterministic(tmp_path, reference_dir):
    a = build_tokenizer(tmp_path / "a", "bvv241-2-3", ngrams=reference_dir / "n-gramms-2-3.txt")
    b = build_tokenizer(tmp_path / "b", "bvv241-2-3", ngrams=reference_dir / "n-gramms-2-3.txt")
    assert all((a / p.name).read_bytes() == p.read_bytes() for p in b.iterdir())


def test_loads_with_transformers_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    d = build_small(tmp_path / "ll")
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(str(d))
    tok = Tokenizer.load(d)
    text = "the nation 😀 <s> 中国人\U00010348"
    assert fast.encode(text, add_special_tokens=False) == tok.encode(text)
    assert (fast.bos_token, fast.eos_token, fast.unk_token, fast.pad_token) == ("<s>", "</s>", "<unk>", "<pad>")
    assert fast.decode(tok.encode(text)) == text


def test_edited_file_is_refused(tmp_path):
    from unicode_substrate.errors import SubstrateError

    d = build_small(tmp_path / "ll")
    with open(d / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("x")
    with pytest.raises(SubstrateError, match="sha256"):
        Tokenizer.load(d)


def test_layout_names_are_the_choices_list():
    from unicode_substrate.choices import DEFAULT_LAYOUT, LAYOUT_NAMES
    from unicode_substrate.tokenizer.layout import LAYOUTS

    assert tuple(LAYOUTS) == LAYOUT_NAMES and DEFAULT_LAYOUT in LAYOUTS
