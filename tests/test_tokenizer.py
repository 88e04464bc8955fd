"""The fast encoder against the Hugging Face library: identical ids, exact round trips, all of Unicode."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _tokenizer_helpers import build_small, pair
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokenizer import Tokenizer, build_tokenizer
from unicode_substrate.tokenizer import encoder as encoder_module

# Hard strings: empty, controls, combining marks, ZWJ emoji, RTL, CJK, astral planes, private use,
# noncharacters, specials and strings spelt like reserved tokens (which must stay plain text).
HARD = [
    "",
    " ",
    "\n\n\t\r\x00\x1f\x7f\x85",
    "the nation there thereof",
    "e\u0301 a\u0308\u0301 \u0915\u094d\u0937",
    "👨\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈 👍🏽",
    "שלום עולם مرحبا بالعالم \u202eabc\u202c",
    "中国人我们的，我中国 日本語のテキスト 한국어",
    "\U0001d400\U0001d401 \U00010348\U00013000 \U0010fffd\U0010ffff",
    "\ue000\uf8ff\uffff\ufffe\ufeff",
    "<s>the</s><pad>[INST]x[/INST]<unk><0x41><0xF0><unused_65535><special_token_57367>",
    "<s<s>>[[INST]]",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" * 20,
    "==" * 400,
    "😀x😀xx😀",
    "привет, мир! при ост",
]


@pytest.fixture(scope="module", params=["native", "python"])
def native(request):
    """Every test below runs on the compiled BPE loop and on the pure-Python path."""
    if request.param == "native" and encoder_module._bpe is None:
        pytest.fail("the compiled module unicode_substrate.tokenizer._bpe is not built (run `make bootstrap`)")
    return request.param == "native"


@pytest.fixture(scope="module")
def small(tmp_path_factory, native):
    tok, hf = pair(build_small(tmp_path_factory.mktemp("ll") / "tok"), native)
    assert tok.native == native
    return tok, hf


@pytest.fixture(scope="module")
def small_paper(tmp_path_factory, native):
    return pair(build_small(tmp_path_factory.mktemp("p23") / "tok", layout="bvv241-2-3"), native)


def hf_ids(hf, text):
    return hf.encode(text).ids


@pytest.mark.parametrize("text", HARD)
def test_hard_strings_match_library_and_round_trip(small, small_paper, text):
    tok, hf = small
    ids = tok.encode(text)
    assert ids == hf_ids(hf, text)
    assert tok.decode(ids) == text
    assert hf.decode(ids, skip_special_tokens=False) == text
    ptok, phf = small_paper
    assert ptok.encode(text) == hf_ids(phf, text)
    assert ptok.decode(ptok.encode(text)) == phf.decode(hf_ids(phf, text), skip_special_tokens=False)


def test_paper_layout_loses_what_the_paper_loses(small_paper):
    tok, _ = small_paper
    unk = tok.token_to_id("<unk>")
    assert tok.encode("a😀\ue000\uffff") == [ord("a"), unk, unk, unk]


def test_specials_are_atomic_and_reserved_spellings_are_text(small):
    tok, _ = small
    assert tok.encode("<s>") == [0xE001]
    assert tok.encode("</s>[FILE_SEP]") == [0xE002, 0xE016]
    assert 0xF841 not in tok.encode("<0x41>")  # a byte token is reached only through byte fallback
    assert tok.encode("😀") == [0xF800 + b for b in "😀".encode()]
    assert tok.decode([0xE001], skip_special_tokens=True) == ""


def test_merge_order_is_lowest_rank_leftmost(small):
    tok, hf = small
    for n in range(1, 400):
        text = "a" * n  # overlapping merges of one rank: the leftmost wins, in short and heap-merged chunks
        assert tok.encode(text) == hf_ids(hf, text)


def _scalar_values():
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


@pytest.mark.slow
def test_every_scalar_value_round_trips_alone_and_in_text(small):
    tok, hf = small
    chars = _scalar_values()
    assert len(chars) == 1_112_064
    # Alone: a newline beside a character never merges (no vocabulary entry holds whitespace), so
    # each character is encoded exactly as if it stood alone.
    alone = "\n".join(chars)
    ids = tok.encode(alone)
    assert ids == hf_ids(hf, alone)
    assert tok.decode(ids) == alone
    newline = tok.token_to_id("\n")
    pieces, cur = [], []
    for i in ids:
        if i == newline:
            pieces.append(cur)
            cur = []
        else:
            cur.append(i)
    pieces.append(cur)
    pieces = [p for p in pieces if p]  # the newline character itself sits between two separators
    assert [tok.decode(p) for p in pieces] == [c for c in chars if c != "\n"]
    # In text: all characters side by side, and every 7th between letters that do merge.
    for text in ("".join(chars), "".join(f"th{c}ation" for c in chars[::7])):
        ids = tok.encode(text)
        assert ids == hf_ids(hf, text)
        assert tok.decode(ids) == text


SCRIPT_CHARS = st.sampled_from(
    list("thea nrio") + list("приветмир") + list("中国人我们的，") + ["\u0301", "\u200d", "\ufe0f", "😀", "👩", "\U0001f3fd"]
    + list("שלוםمرحبا") + ["\u202e", "\x00", "\n", "\t", "\ue000", "\uffff", "\U0010ffff", "<", ">", "s", "/"]
)  # fmt: skip
TEXT = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=8),  # every category and plane
        st.text(SCRIPT_CHARS, max_size=12),
        st.sampled_from(["<s>", "</s>", "[INST]", "<unk>", "<0xE0>", "the", "ation", "中国人", "😀x"]),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_property_lossless_matches_library_and_round_trips(small, text):
    tok, hf = small
    ids = tok.encode(text)
    assert ids == hf_ids(hf, text)
    assert tok.decode(ids) == text
    assert hf.decode(ids, skip_special_tokens=False) == text
    assert all(0 <= i < tok.vocab_size for i in ids)
    long = text * (1 + 600 // max(1, len(text)))  # past 512 characters: the compiled loop caches repeated chunks
    assert tok.encode(long) == hf_ids(hf, long)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_property_paper_layout_matches_library(small_paper, text):
    tok, hf = small_paper
    assert tok.encode(text) == hf_ids(hf, text)


@pytest.mark.parametrize("layout", ["lossless", "bvv241-2-3"])
def test_character_without_id_inside_a_chunk(tmp_path, native, layout):
    # "a😀b" is a merge result, so a😀 and 😀b are boundaries the text is not cut at, yet 😀 has no
    # id: its byte tokens (or <unk>) sit inside the chunk and take part in no merge. build-tokenizer
    # refuses such grams, so the vocabulary comes from a foreign tokenizer.json (--from-tokenizer).
    import json

    stats = tmp_path / "stats.txt"
    stats.write_text(repr([{"lang": "en", "language_name": "English", "top_ngrams": {2: [("ab", 1)]}}]))
    base = build_tokenizer(tmp_path / "base", layout, ngrams=stats)
    obj = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = obj["model"]["vocab"]
    for old, new in zip([t for t in vocab if t.startswith("<unused_")][:2], ["a😀b", "a😀"]):
        vocab[new] = vocab.pop(old)
    obj["model"]["merges"] = [["a😀", "b"], *obj["model"]["merges"]]
    (tmp_path / "foreign.json").write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    tok, hf = pair(build_tokenizer(tmp_path / "tok", from_tokenizer=tmp_path / "foreign.json"), native)
    assert ("a😀", "b") in tok._ranks
    for text in ("a😀b", "xa😀by a😀b ab", "a😀b" * 300):
        assert tok.encode(text) == hf_ids(hf, text)


def test_compiled_loop_is_the_default_and_survives_pickling(small):
    import pickle

    tok, hf = small
    path = tok.path
    assert Tokenizer.load(path).native  # the bootstrap builds it; loading uses it unless told not to
    again = pickle.loads(pickle.dumps(tok))  # as a spawned worker process receives it
    assert again.native == tok.native
    text = "the nation 😀 привет 中国人"
    assert again.encode(text) == hf_ids(hf, text)


@pytest.mark.slow
def test_paper_layouts_match_library_on_real_text(tmp_path, reference_dir):
    from unicode_substrate.corpus import builtin_documents

    text = "\n".join(builtin_documents()[:15]) + "".join(HARD) + "Привет, как дела? 我们的中国人，日本語のテキスト。"
    paper = {
        "bvv241-2-3": dict(ngrams=reference_dir / "n-gramms-2-3.txt"),
        "bvv241-max": dict(ngrams=reference_dir / "n-gramms-2-3-4-5.txt", intersection=reference_dir / "n-gramms-intersection.txt"),
    }
    for layout, inputs in paper.items():
        path = build_tokenizer(tmp_path / layout, layout, **inputs)
        for native in (True, False):
            tok, hf = pair(path, native)
            assert tok.encode(text) == hf_ids(hf, text)


def test_encode_batch_parallel_equals_serial(small, monkeypatch):
    tok, hf = small
    monkeypatch.setattr(encoder_module, "_THREAD_MIN_CHARS", 0)
    texts = [t * 3 for t in HARD] * 4
    plain = [t.replace("<", "") for t in texts]  # no special token anywhere
    try:
        assert tok.encode_batch(texts, workers=2) == [hf_ids(hf, t) for t in texts]
        assert tok.encode_batch(plain, workers=2) == [hf_ids(hf, t) for t in plain]
    finally:
        tok.close()
    assert tok.encode_batch(texts[:3]) == [tok.encode(t) for t in texts[:3]]
    # Serial batches are joined by a character that occurs in none of the texts; when every
    # candidate occurs somewhere, each text is encoded on its own.
    every_joiner = [*texts, "\x1e\x1f\x1d\x1c\x00\n", ""]
    assert tok.encode_batch(every_joiner, workers=1) == [hf_ids(hf, t) for t in every_joiner]
    assert tok.encode_batch(["a\x1eb", "", " the", "x"], workers=1) == [hf_ids(hf, t) for t in ["a\x1eb", "", " the", "x"]]


def test_arrays_equal_lists(small):
    import numpy as np

    tok, hf = small
    texts = [t * 12 for t in HARD] + HARD  # long ones pass the compiled loop's cache threshold, short ones not
    for t in texts:
        arr = tok.encode(t, as_array=True)
        assert arr.dtype == np.int32 and arr.tolist() == tok.encode(t) == hf_ids(hf, t)
    batch = tok.encode_batch(texts, workers=1, as_array=True)
    assert [a.dtype for a in batch] == [np.dtype(np.int32)] * len(texts)
    assert [a.tolist() for a in batch] == [hf_ids(hf, t) for t in texts]
    assert tok.encode_batch([], as_array=True) == [] and tok.encode_batch([""], as_array=True)[0].tolist() == []


def test_a_batch_shares_chunks_across_texts_of_every_width(small):
    # One cache serves a whole batch: the same words in 1-, 2- and 4-byte-wide strings, with
    # specials and byte fallback between them, each text long enough to be cached.
    tok, hf = small
    words = ["the nation", "there<s>thereof", "😀x then", "привет ation", "中国人 the", "aaaa\n"]
    texts = [" ".join(words[k:] + words[:k]) * 30 for k in range(len(words))] + [w * 200 for w in words]
    assert tok.encode_batch(texts, workers=1) == [hf_ids(hf, t) for t in texts]
    assert [tok.encode(t) for t in texts] == [hf_ids(hf, t) for t in texts]


def test_decode_rejects_out_of_range_and_lone_surrogates(small):
    tok, _ = small
    with pytest.raises(SubstrateError, match="outside the vocabulary"):
        tok.decode([65536])
    with pytest.raises(SubstrateError, match="surrogate at index 1"):
        tok.encode("a\ud800b")
    with pytest.raises(SubstrateError, match="surrogate at index 5"):
        tok.encode("<s>ab\udfff")  # the index is in the caller's text, not in a piece of it
    with pytest.raises(SubstrateError, match="text 1 of the batch holds a lone surrogate at index 2"):
        tok.encode_batch(["ok", "ab\udfff"], workers=1)
    assert tok.decode([0xF8F0, 0x61]) == "\ufffda"  # an invalid byte run decodes as the library does
    assert tok.decode([0xF8F0, 0x61]) == small[1].decode([0xF8F0, 0x61])


def test_from_tokenizer_byte_level_vocabulary(tmp_path):
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    hf.train_from_iterator(["the painted nation there 😀 привет"] * 50 + ["other words entirely"] * 20, trainer)
    src = tmp_path / "gpt2ish.json"
    hf.save(str(src))
    out = build_tokenizer(tmp_path / "tok", from_tokenizer=src)
    tok = Tokenizer.load(out)
    assert tok.manifest["layout"] == "from-tokenizer" and not tok.fast
    assert tok.vocab_size == hf.get_vocab_size() and len(tok.tokens()) == tok.vocab_size
    assert tok.tokens()[0] == "<|endoftext|>" and "Ġpainted" in tok.tokens()
    text = "the painted 😀 nation, привет <|endoftext|>"
    assert tok.encode(text) == hf.encode(text).ids
    with pytest.raises(SubstrateError, match="text 1 of the batch holds a lone surrogate at index 3"):
        tok.encode_batch([text, "the\ud800"])  # the library itself would raise a bare TypeError
    assert tok.decode(tok.encode(text)) == text
    assert (out / "tokenizer.json").read_bytes() == src.read_bytes()
