"""Build a tokenizer directory: layout the vocabulary, write the Hugging Face files and the manifest."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from unicode_substrate.artifacts import (
    atomic_output_dir,
    canonical_json,
    check_output,
    sha256_bytes,
    sha256_file,
    write_manifest,
)
from unicode_substrate.choices import (DEFAULT_LAYOUT, MERGES_TXT, SPECIAL_ROLES, SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG, TOKENIZER_JSON,
                                       VOCAB_JSON, VOCAB_TXT)
from unicode_substrate.errors import SubstrateError
from unicode_substrate.tokenizer import ngrams as ngram_stats
from unicode_substrate.tokenizer.layout import SPECIAL_BASE, SPECIALS, UNK, Vocabulary, assemble, get_layout

SCHEMA_VERSION = 1
FROM_TOKENIZER = "from-tokenizer"
# Mined from the built-in corpus when a layout gets no --ngrams: n = 2..5, top 1,000 per n.
BUILTIN_SIZES = (2, 3, 4, 5)
BUILTIN_TOP_K = 1000


def build_tokenizer(
    out: str | Path,
    layout: str = DEFAULT_LAYOUT,
    ngrams: str | Path | None = None,
    intersection: str | Path | None = None,
    from_tokenizer: str | Path | None = None,
    force: bool = False,
    top_cnt: int | None = None,
) -> Path:
    """Build a tokenizer directory at ``out`` and return its path (atomic; refuses an existing ``out`` unless ``force``)."""
    out = Path(out)
    check_output(out, force=force, kind="tokenizer", inputs=[ngrams, intersection, from_tokenizer])
    if from_tokenizer is not None:
        if ngrams is not None or intersection is not None or top_cnt is not None:
            raise SubstrateError("a tokenizer taken from a file brings its vocabulary; give no n-grams, intersection or gram count with it",
                                  param=("from_tokenizer", "ngrams_path", "intersection", "top_cnt"))
        return _copy_tokenizer(Path(from_tokenizer), out, force)
    spec = get_layout(layout)
    if ngrams is None and spec.default_ngrams != "builtin":
        raise SubstrateError(f"layout {spec.name} is built from the paper's statistics: give its n-grams, {spec.default_ngrams}",
                             param="ngrams_path")
    if intersection is not None and not spec.uses_intersection:
        raise SubstrateError(f"layout {spec.name} takes no intersection list (only bvv241-max does)", param="intersection")
    if intersection is None and spec.uses_intersection:  # without it the grams differ and the ids are not the paper's
        raise SubstrateError(f"layout {spec.name} is the paper's tokenizer only with its intersection list: "
                             "give n-gramms-intersection.txt (without it, far fewer grams are placed)", param="intersection")
    top = top_cnt if top_cnt is not None else spec.top_cnt
    params: dict = {"top_cnt": top, "byte_fallback": spec.byte_fallback}
    if ngrams is None:
        from unicode_substrate.corpus import iter_documents

        stats = ngram_stats.mine(iter_documents(), BUILTIN_SIZES, BUILTIN_TOP_K)
        source = {"source": "builtin-corpus", "python": platform.python_version(), "sizes": list(BUILTIN_SIZES), "top_k": BUILTIN_TOP_K}
        ngrams_sha = sha256_bytes(ngram_stats.to_literal(stats))
    else:
        path = ngram_stats.resolve(ngrams)
        stats = ngram_stats.load(path)
        source = {"source": "file"}  # identified by ngrams_sha256; the file's name is not part of the input
        ngrams_sha = sha256_file(path)
    grams = ngram_stats.select(stats, top)
    inter_sha = None
    if intersection is not None:
        inter = ngram_stats.load_intersection(intersection)
        grams |= set(inter)
        inter_sha = sha256_file(intersection)
    vocab = assemble(spec, grams)
    with atomic_output_dir(out, force, kind="tokenizer", inputs=[ngrams, intersection]) as tmp:
        _write_files(tmp, vocab)
        write_manifest(
            tmp,
            "tokenizer",
            SCHEMA_VERSION,
            layout=spec.name,
            parameters=params,
            ngrams=source,
            ngrams_sha256=ngrams_sha,
            intersection_sha256=inter_sha,
            vocab_size=len(vocab.tokens),
            n_ngrams=len(grams),
            n_placed=vocab.n_placed,
            n_merges=len(vocab.merges),
            dropped=list(vocab.dropped),
        )
    return out


def tokenizer_json(vocab: Vocabulary) -> dict:
    """The Hugging Face ``tokenizer.json`` object: BPE, no normalizer or pre-tokenizer, specials added."""
    spec = vocab.layout
    decoder = {"type": "Fuse"}  # plain concatenation
    if spec.byte_fallback:
        decoder = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": SPECIAL_BASE + k, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for k, s in enumerate(SPECIALS)
        ],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": decoder,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": UNK,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": spec.byte_fallback,
            "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(vocab.tokens)},
            "merges": [list(m) for m in vocab.merges],
        },
    }


def _dumps(obj) -> bytes:
    # Insertion order kept (vocab in id order, as Hugging Face writes it); same input, same bytes.
    return (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _write_files(d: Path, vocab: Vocabulary) -> None:
    (d / TOKENIZER_JSON).write_bytes(_dumps(tokenizer_json(vocab)))
    (d / VOCAB_JSON).write_bytes(_dumps({t: i for i, t in enumerate(vocab.tokens)}))
    (d / MERGES_TXT).write_bytes(("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in vocab.merges)).encode("utf-8"))
    _write_vocab_txt(d, vocab.tokens)
    named = {f"{role}_token": token for role, token in SPECIAL_ROLES.items()}
    extra = [s for s in SPECIALS if s not in named.values()]
    (d / SPECIAL_TOKENS_MAP).write_bytes(canonical_json({**named, "additional_special_tokens": extra}))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **named,
        "additional_special_tokens": extra,
        "vocab_size": len(vocab.tokens),
        "model_max_length": 1_000_000_000,
        "clean_up_tokenization_spaces": False,
        "add_bos_token": False,
        "add_eos_token": False,
    }
    (d / TOKENIZER_CONFIG).write_bytes(canonical_json(config))


def _write_vocab_txt(d: Path, tokens) -> None:
    # One line per id: id, code point(s) and the token as a JSON string so control characters stay visible.
    lines = (f"{i}\t{' '.join(f'U+{ord(c):04X}' for c in t) if len(t) == 1 else '-'}\t{json.dumps(t, ensure_ascii=False)}\n" for i, t in enumerate(tokens))
    (d / VOCAB_TXT).write_bytes("".join(lines).encode("utf-8"))


def _copy_tokenizer(src: Path, out: Path, force: bool) -> Path:
    """Take an existing Hugging Face tokenizer.json verbatim as the vocabulary (any model type)."""
    from tokenizers import Tokenizer as HFTokenizer

    if src.is_dir():
        src = src / TOKENIZER_JSON
    try:
        raw = src.read_bytes()
    except OSError as e:
        raise SubstrateError(f"cannot read tokenizer file {src}: {e.strerror or e}") from None
    try:
        obj = json.loads(raw.decode("utf-8"))
        hf = HFTokenizer.from_str(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, Exception) as e:  # the library raises a bare Exception
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SubstrateError(f"{src} is not a Hugging Face tokenizer.json: {first[:200]}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        raise SubstrateError(f"{src} is not a Hugging Face tokenizer.json: no 'model' object")
    _check_unique_ids(obj, src)
    id_to_token = {i: t for t, i in hf.get_vocab(with_added_tokens=True).items()}
    if not id_to_token:
        raise SubstrateError(f"{src} has an empty vocabulary")
    size = max(id_to_token) + 1
    tokens = [id_to_token.get(i, f"<unused_{i}>") for i in range(size)]
    merges = obj["model"].get("merges") or []
    merges = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
    with atomic_output_dir(out, force, kind="tokenizer", inputs=[src]) as tmp:
        (tmp / TOKENIZER_JSON).write_bytes(raw)
        (tmp / VOCAB_JSON).write_bytes(_dumps({t: i for i, t in enumerate(tokens)}))
        (tmp / MERGES_TXT).write_bytes(("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode("utf-8"))
        _write_vocab_txt(tmp, tokens)
        specials = [a["content"] for a in obj.get("added_tokens", []) if a.get("special")]
        for name in (TOKENIZER_CONFIG, SPECIAL_TOKENS_MAP):
            beside = src.parent / name
            if beside.is_file():
                (tmp / name).write_bytes(beside.read_bytes())
        if not (tmp / SPECIAL_TOKENS_MAP).exists():
            (tmp / SPECIAL_TOKENS_MAP).write_bytes(canonical_json({"additional_special_tokens": specials}))
        if not (tmp / TOKENIZER_CONFIG).exists():
            config = {"tokenizer_class": "PreTrainedTokenizerFast", "additional_special_tokens": specials, "vocab_size": size, "clean_up_tokenization_spaces": False}
            (tmp / TOKENIZER_CONFIG).write_bytes(canonical_json(config))
        write_manifest(
            tmp,
            "tokenizer",
            SCHEMA_VERSION,
            layout=FROM_TOKENIZER,
            parameters={"model_type": obj["model"].get("type")},
            source_sha256=sha256_bytes(raw),
            vocab_size=size,
            n_gaps=size - len(id_to_token),
        )
    return out


def _check_unique_ids(obj: dict, src: Path) -> None:
    """Refuse a vocabulary where two tokens share an id (or one token appears twice): one would vanish."""
    vocab = obj["model"].get("vocab")
    seen: dict[int, str] = {}
    if isinstance(vocab, dict):
        pairs = [(t, i) for t, i in vocab.items()]
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the position
        pairs = [(p[0] if isinstance(p, (list, tuple)) and p else p, i) for i, p in enumerate(vocab)]
        pieces = [t for t, _ in pairs]
        if len(set(map(repr, pieces))) != len(pieces):
            dup = next(t for k, t in enumerate(pieces) if t in pieces[:k])
            raise SubstrateError(f"{src}: token {dup!r} appears twice in the vocabulary")
    else:
        pairs = []
    for a in obj.get("added_tokens") or []:
        if isinstance(a, dict) and "id" in a:
            if vocab is not None and isinstance(vocab, dict) and vocab.get(a.get("content")) == a["id"]:
                continue  # an added token that is also in the vocabulary under the same id
            pairs.append((a.get("content"), a["id"]))
    for token, i in pairs:
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise SubstrateError(f"{src}: token {token!r} has id {i!r}, not a non-negative integer")
        if i in seen and seen[i] != token:
            raise SubstrateError(f"{src}: tokens {seen[i]!r} and {token!r} share id {i}; every token needs its own id")
        seen[i] = token
