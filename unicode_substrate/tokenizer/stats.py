"""``tokenizer-stats``: how efficiently tokenizers cut text, per language, as the paper's benchmark measures it.

Texts are read per language from ``TEXTS/<lang>/`` by the corpus reader (one document per ``.txt``
file or per JSONL/Parquet record; the default is the built-in English corpus). Every tokenizer,
ours (a tokenizer directory with its manifest) or any Hugging Face ``tokenizer.json``, encodes every
document with no special tokens added. Per language and tokenizer:

* characters per token, the author's measure: per document ``len(text) / len(ids)``, then the mean
  and the sample standard deviation (n - 1) over documents;
* UTF-8 bytes per token, the same way;
* the share of tokens that are the unknown token;
* whether ``decode(encode(doc)) == doc`` for every document;
* the share of the vocabulary's ids that occur at all.

Written atomically and deterministically: ``table.csv`` in the author's layout (``LanguageName``
rows with English names, one column per tokenizer: the mean characters per token), ``measures.csv``
(every measure, one row per language and tokenizer), ``table.md``, ``chars_per_token.png``,
``heatmap.png`` and a manifest. With a reference (the author's ``_tokenizer-benchmarking.csv``),
its figures, measured on Wikipedia and Wikisource samples, are set beside ours in table.md and both
pictures, labelled as such.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unicode_substrate.artifacts import artifact_kind, atomic_output_dir, check_output, write_manifest
from unicode_substrate.choices import TOKENIZER_JSON
from unicode_substrate.corpus import iter_documents, language_name
from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import parse_named
from unicode_substrate.progress import Progress

KIND = "tokenizer-stats"
SCHEMA = 1
TABLE_CSV, MEASURES_CSV, TABLE_MD = "table.csv", "measures.csv", "table.md"
BARS_PNG, HEATMAP_PNG = "chars_per_token.png", "heatmap.png"
ROW_HEADER = "LanguageName"  # the author's first column
REFERENCE_SOURCE = "Wikipedia and Wikisource samples"  # what the published figures were measured on
BUILTIN = "the built-in corpus"


@dataclass(frozen=True)
class Cell:
    """The measures of one tokenizer on one language's documents."""

    documents: int  # non-empty documents read
    untokenized: int  # documents that gave no token (left out of the per-token means)
    tokens: int
    chars_per_token: float  # mean over documents of len(text) / len(ids)
    chars_per_token_std: float  # sample standard deviation (n - 1) of the same; nan for one document
    bytes_per_token: float  # mean over documents of len(text.encode()) / len(ids)
    unknown_rate: float  # unknown tokens / all tokens (0 for a vocabulary without an unknown token)
    round_trip_failures: int  # documents where decode(encode(doc)) != doc
    ids_used: int  # distinct ids over all documents
    vocab_size: int

    @property
    def round_trip(self) -> bool:
        return self.round_trip_failures == 0

    @property
    def vocab_share(self) -> float:
        return self.ids_used / self.vocab_size if self.vocab_size else math.nan


@dataclass(frozen=True)
class Stats:
    """Every measure: ``cells[(language, tokenizer)]``, languages by English name in the author's (sorted) order."""

    languages: list[str]
    tokenizers: list[str]
    cells: dict
    kinds: dict  # tokenizer -> what it is ("ours (lossless)", "Hugging Face tokenizer.json")
    empty: dict  # language -> empty documents left out
    texts: str  # where the texts came from, in words


class _Encoder:
    """One tokenizer, ours or Hugging Face's, behind the three calls the measures need."""

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path
        if not path.exists():
            raise SubstrateError(f"tokenizer {name}: {path} does not exist", param="tokenizers")
        if path.is_dir() and artifact_kind(path) == "tokenizer":
            from unicode_substrate.tokenizer.encoder import Tokenizer

            self.ours = Tokenizer.load(path)
            self.kind = f"ours ({self.ours.layout or 'no layout'})"
            self.vocab_size, self.unk_id = self.ours.vocab_size, self.ours.unk_id
            return
        file = path if path.is_file() else path / TOKENIZER_JSON
        if not file.is_file():
            raise SubstrateError(f"tokenizer {name}: {path} is neither a tokenizer directory of ours (manifest.json) "
                                 f"nor a Hugging Face one ({TOKENIZER_JSON})", param="tokenizers")
        from tokenizers import Tokenizer as HFTokenizer

        try:
            spec = json.loads(file.read_bytes().decode("utf-8"))
            self.hf = HFTokenizer.from_file(str(file))
        except Exception as e:  # the library raises a bare Exception for a file it cannot read
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise SubstrateError(f"tokenizer {name}: {file} cannot be loaded: {first}", param="tokenizers") from None
        self.ours = None
        self.kind = "Hugging Face tokenizer.json"
        self.vocab_size = self.hf.get_vocab_size(with_added_tokens=True)
        model = spec.get("model") if isinstance(spec, dict) else None
        model = model if isinstance(model, dict) else {}
        unk = model.get("unk_token")
        self.unk_id = self.hf.token_to_id(unk) if isinstance(unk, str) else model.get("unk_id")  # Unigram: unk_id

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        if self.ours is not None:
            return self.ours.encode_batch(texts, as_array=True)
        return [np.asarray(e.ids, dtype=np.int64) for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[np.ndarray]) -> list[str]:
        if self.ours is not None:
            return [self.ours.decode(x) for x in ids]
        return self.hf.decode_batch([x.tolist() for x in ids], skip_special_tokens=False)

    def close(self) -> None:
        if self.ours is not None:
            self.ours.close()


def read_texts(texts: str | Path | None) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Documents by English language name (``TEXTS/<lang>/``; None = the built-in corpus), and empty ones left out."""
    docs: dict[str, list[str]] = {}
    empty: dict[str, int] = {}
    codes: dict[str, str] = {}
    for code, text in iter_documents(texts):
        name = language_name(code)
        if codes.setdefault(name, code) != code:
            raise SubstrateError(f"the folders {codes[name]!r} and {code!r} both name {name}; keep one", param="texts")
        docs.setdefault(name, [])
        if text:
            docs[name].append(text)
        else:
            empty[name] = empty.get(name, 0) + 1
    if not docs:
        raise SubstrateError(f"no texts under {texts}: expected {texts}/<lang>/ folders of .txt, .jsonl or "
                             f".parquet files", param="texts")
    blank = sorted(n for n, d in docs.items() if not d)
    if blank:
        raise SubstrateError(f"every document of {blank[0]} is empty; there is nothing to tokenize", param="texts")
    return {n: docs[n] for n in sorted(docs)}, empty


def measure_one(enc: _Encoder, docs: list[str], nbytes: np.ndarray | None = None) -> Cell:
    """The measures of one tokenizer on one language's (non-empty) documents."""
    ids = enc.encode(docs)
    n = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    chars = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    if nbytes is None:
        nbytes = _utf8_sizes(docs)
    ok = n > 0
    cpt, bpt = chars[ok] / n[ok], nbytes[ok] / n[ok]
    every = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    unknown = int(np.count_nonzero(every == enc.unk_id)) if enc.unk_id is not None else 0
    failures = sum(back != doc for back, doc in zip(enc.decode(ids), docs))
    return Cell(
        documents=len(docs), untokenized=int(np.count_nonzero(~ok)), tokens=int(every.size),
        chars_per_token=float(cpt.mean()) if cpt.size else math.nan,
        chars_per_token_std=float(cpt.std(ddof=1)) if cpt.size > 1 else math.nan,
        bytes_per_token=float(bpt.mean()) if bpt.size else math.nan,
        unknown_rate=unknown / every.size if every.size else 0.0,
        round_trip_failures=int(failures), ids_used=int(np.unique(every).size), vocab_size=enc.vocab_size,
    )


def _utf8_sizes(docs: list[str]) -> np.ndarray:
    """UTF-8 bytes of every document (the corpus reader has refused lone surrogates, so every one encodes)."""
    return np.fromiter((len(d.encode("utf-8")) for d in docs), dtype=np.int64, count=len(docs))


def _encoders(tokenizers) -> list[_Encoder]:
    named = parse_named(tokenizers, "tokenizer", param="tokenizers")
    if not named:
        raise SubstrateError("give at least one tokenizer as NAME=PATH", param="tokenizers")
    return [_Encoder(name, Path(path)) for name, path in named.items()]


def measure(tokenizers, texts: str | Path | None = None, progress: bool = False) -> Stats:
    """Every measure of every tokenizer (``["NAME=PATH", ...]`` or ``{name: path}``) on the texts of every language."""
    encoders = _encoders(tokenizers)
    try:
        docs, empty = read_texts(texts)
        sizes = {lang: _utf8_sizes(lang_docs) for lang, lang_docs in docs.items()}
        cells = {}
        with Progress(len(docs) * len(encoders), "tokenizer-stats", enabled=progress, unit="pair") as bar:
            for lang, lang_docs in docs.items():
                for enc in encoders:
                    bar.set_postfix(f"{lang} × {enc.name}")
                    cells[(lang, enc.name)] = measure_one(enc, lang_docs, sizes[lang])
                    bar.update()
    finally:
        for enc in encoders:
            enc.close()
    return Stats(list(docs), [e.name for e in encoders], cells, {e.name: e.kind for e in encoders}, empty,
                 BUILTIN if texts is None else str(texts))


# ---- the published figures ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """The author's table: characters per token by language (English name) and tokenizer."""

    path: str
    tokenizers: list[str]
    values: dict  # language -> {tokenizer: float}


def read_reference(path: str | Path) -> Reference:
    """The author's ``_tokenizer-benchmarking.csv`` (``LanguageName`` then one column per tokenizer)."""
    path = Path(path)
    if not path.is_file():
        raise SubstrateError(f"reference {path} is not a file", param="reference")
    try:
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as e:
        raise SubstrateError(f"reference {path} is not a UTF-8 CSV file: {e}", param="reference") from None
    if not rows or not rows[0] or rows[0][0] != ROW_HEADER or len(rows[0]) < 2:
        raise SubstrateError(f"reference {path} does not start with {ROW_HEADER},<tokenizer>,... as the author's "
                             f"_tokenizer-benchmarking.csv does", param="reference")
    head = rows[0][1:]
    values: dict[str, dict[str, float]] = {}
    for lineno, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != len(rows[0]):
            raise SubstrateError(f"{path}:{lineno}: {len(row)} fields, the header has {len(rows[0])}", param="reference")
        try:
            values[row[0]] = {t: float(v) for t, v in zip(head, row[1:]) if v.strip()}
        except ValueError as e:
            raise SubstrateError(f"{path}:{lineno}: {e}", param="reference") from None
    if not values:
        raise SubstrateError(f"reference {path} has no rows", param="reference")
    return Reference(str(path), head, values)


def _reference_rows(stats: Stats, ref: Reference) -> list[str]:
    """The published rows to show: the languages we measured, or all of them when none is shared."""
    return [lang for lang in stats.languages if lang in ref.values] or sorted(ref.values)


# ---- the files -----------------------------------------------------------------------------------------
def _num(x: float) -> str:
    return "" if math.isnan(x) else repr(x)


def table_csv(stats: Stats) -> str:
    """The author's layout: ``LanguageName`` rows (English names, sorted), one column per tokenizer."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([ROW_HEADER, *stats.tokenizers])
    for lang in stats.languages:
        w.writerow([lang, *(_num(stats.cells[(lang, t)].chars_per_token) for t in stats.tokenizers)])
    return buf.getvalue()


MEASURES = ("documents", "tokens", "chars_per_token", "chars_per_token_std", "bytes_per_token", "unknown_rate",
            "round_trip", "round_trip_failures", "vocab_share", "ids_used", "vocab_size", "untokenized")


def measures_csv(stats: Stats) -> str:
    """Every measure, one row per language and tokenizer."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["language", "tokenizer", *MEASURES])
    for lang in stats.languages:
        for t in stats.tokenizers:
            c = stats.cells[(lang, t)]
            vals = [getattr(c, m) for m in MEASURES]
            w.writerow([lang, t, *(_num(v) if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else v
                                   for v in vals)])
    return buf.getvalue()


def _f(x: float, digits: int = 2) -> str:
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _grid(title: str, note: str, stats: Stats, cell) -> list[str]:
    lines = [f"## {title}", "", note, "", "| language | " + " | ".join(stats.tokenizers) + " |",
             "|---|" + "---:|" * len(stats.tokenizers)]
    for lang in stats.languages:
        lines.append(f"| {lang} | " + " | ".join(cell(stats.cells[(lang, t)]) for t in stats.tokenizers) + " |")
    return lines + [""]


def _round_trip(c: Cell) -> str:
    return "yes" if c.round_trip else f"no ({c.round_trip_failures} of {c.documents})"


def markdown(stats: Stats, ref: Reference | None = None) -> str:
    """table.md: every measure, where the texts came from, and the published figures beside ours when given."""
    docs = ", ".join(f"{lang} {stats.cells[(lang, stats.tokenizers[0])].documents}" for lang in stats.languages)
    lines = ["# Tokenizer statistics", "",
             f"Texts: {stats.texts} (documents per language: {docs}).",
             *([f"Empty documents left out: {', '.join(f'{k} {v}' for k, v in sorted(stats.empty.items()))}."]
               if stats.empty else []),
             "Every document is encoded on its own, with no special tokens added.", ""]
    lines += _grid("Characters per token", "Per document `len(text) / len(ids)`, then the mean ± the sample standard "
                   "deviation (n − 1) over documents: the paper's measure (its table holds the means).",
                   stats, lambda c: f"{_f(c.chars_per_token)} ± {_f(c.chars_per_token_std)}")
    lines += _grid("UTF-8 bytes per token", "Per document `len(text.encode()) / len(ids)`, then the mean over documents.",
                   stats, lambda c: _f(c.bytes_per_token))
    lines += _grid("Unknown tokens", "% of all tokens that are the vocabulary's unknown token (0 where it has none).", stats, lambda c: _f(100 * c.unknown_rate))
    lines += _grid("Round trip", "Whether `decode(encode(doc)) == doc` for every document.", stats, _round_trip)
    lines += _grid("Vocabulary used", "% of the vocabulary's ids that occur in the language's documents.",
                   stats, lambda c: _f(100 * c.vocab_share))
    lines += ["## Tokenizers", "", "| tokenizer | what | vocabulary |", "|---|---|---:|"]
    size = {t: stats.cells[(stats.languages[0], t)].vocab_size for t in stats.tokenizers}
    lines += [f"| {t} | {stats.kinds[t]} | {size[t]:,} |" for t in stats.tokenizers]
    lines.append("")
    if ref is not None:
        rows = _reference_rows(stats, ref)
        lines += ["## Published figures", "",
                  f"Characters per token from `{Path(ref.path).name}`, measured by the paper's author on "
                  f"{REFERENCE_SOURCE} of each language, not on the texts above: set beside ours for scale, "
                  f"not as the same measurement.", "",
                  "| language | " + " | ".join(f"ours: {t}" for t in stats.tokenizers) + " | "
                  + " | ".join(f"published: {t}" for t in ref.tokenizers) + " |",
                  "|---|" + "---:|" * (len(stats.tokenizers) + len(ref.tokenizers))]
        for lang in rows:
            ours = [_f(stats.cells[(lang, t)].chars_per_token) if (lang, t) in stats.cells else "–"
                    for t in stats.tokenizers]
            theirs = [_f(ref.values[lang][t]) if t in ref.values[lang] else "–" for t in ref.tokenizers]
            lines.append(f"| {lang} | " + " | ".join(ours + theirs) + " |")
        lines.append("")
    lines += [f"![characters per token]({BARS_PNG})", "", f"![heatmap]({HEATMAP_PNG})", ""]
    return "\n".join(lines)


def language_order(stats: Stats) -> list[str]:
    """Languages by their mean characters per token over the tokenizers, highest first (the notebook's bar order)."""
    def mean(lang):
        vals = [stats.cells[(lang, t)].chars_per_token for t in stats.tokenizers]
        vals = [v for v in vals if not math.isnan(v)]
        return sum(vals) / len(vals) if vals else -math.inf
    return sorted(stats.languages, key=lambda lang: (-mean(lang), lang))


def _reference_order(ref: Reference, rows: list[str]) -> list[str]:
    def mean(lang):
        vals = list(ref.values[lang].values())
        return sum(vals) / len(vals) if vals else -math.inf
    return sorted(rows, key=lambda lang: (-mean(lang), lang))


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same input, same bytes
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(ax, langs: list[str], names: list[str], value, err=None) -> None:
    width = 0.8 / max(1, len(names))
    x = np.arange(len(langs))
    for j, t in enumerate(names):
        ys = [value(lang, t) for lang in langs]
        es = None if err is None else [[0 if math.isnan(e) else e for e in (err(lang, t) for lang in langs)]]
        ax.bar(x + (j - (len(names) - 1) / 2) * width, [0 if math.isnan(y) else y for y in ys], width, label=t,
               yerr=None if es is None else es[0], capsize=1.5, error_kw={"lw": 0.6})
    ax.set_xticks(x, langs, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("characters per token")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def bars_png(stats: Stats, ref: Reference | None = None) -> bytes:
    """Grouped bars of characters per token (± the standard deviation over documents), languages by their mean."""
    plt = _pyplot()
    langs = language_order(stats)
    panels = 1 if ref is None else 2
    fig, axes = plt.subplots(panels, 1, squeeze=False, layout="constrained",
                             figsize=(min(40.0, max(7.0, 1.5 + len(langs) * (0.3 + 0.12 * len(stats.tokenizers)))),
                                      4.2 * panels))
    cells = stats.cells
    _bars(axes[0][0], langs, stats.tokenizers, lambda lang, t: cells[(lang, t)].chars_per_token,
          lambda lang, t: cells[(lang, t)].chars_per_token_std)
    axes[0][0].set_title(f"ours, on {stats.texts} (bars: mean over documents; whiskers: ± standard deviation)", fontsize=9)
    if ref is not None:
        rows = _reference_rows(stats, ref)
        rows = [lang for lang in langs if lang in rows] or _reference_order(ref, rows)
        _bars(axes[1][0], rows, ref.tokenizers, lambda lang, t: ref.values[lang].get(t, math.nan))
        axes[1][0].set_title(f"published, on {REFERENCE_SOURCE} ({Path(ref.path).name})", fontsize=9)
    return _png(fig)


def _heat(ax, matrix: np.ndarray, rows: list[str], cols: list[str], vmin: float, vmax: float, title: str):
    im = ax.imshow(np.ma.masked_invalid(matrix), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    mid = (vmin + vmax) / 2
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = matrix[i, j]
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="black" if v > mid else "white")
    ax.set_title(title, fontsize=9)
    return im


def heatmap_png(stats: Stats, ref: Reference | None = None) -> bytes:
    """Languages × tokenizers, coloured by characters per token (one colour scale for ours and the published)."""
    plt = _pyplot()
    langs = language_order(stats)
    ours = np.array([[stats.cells[(lang, t)].chars_per_token for t in stats.tokenizers] for lang in langs], dtype=float)
    mats = [(ours, langs, stats.tokenizers, f"ours, on {stats.texts}")]
    if ref is not None:
        rows = _reference_rows(stats, ref)
        rows = [lang for lang in langs if lang in rows] or _reference_order(ref, rows)
        theirs = np.array([[ref.values[lang].get(t, math.nan) for t in ref.tokenizers] for lang in rows], dtype=float)
        mats.append((theirs, rows, ref.tokenizers, f"published, on {REFERENCE_SOURCE}"))
    finite = np.concatenate([m[np.isfinite(m)] for m, *_ in mats])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    vmax = vmax if vmax > vmin else vmin + 1.0
    cols = sum(len(c) for _, _, c, _ in mats)
    height = max(3.4, 0.3 * max(len(r) for _, r, _, _ in mats) + 2.4)
    fig, axes = plt.subplots(1, len(mats), squeeze=False, layout="constrained",
                             figsize=(min(30.0, 3.0 + 0.85 * cols + 1.6 * len(mats)), height),
                             gridspec_kw={"width_ratios": [max(1, len(c)) for _, _, c, _ in mats]})
    im = None
    for ax, (m, rows, cols, title) in zip(axes[0], mats):
        im = _heat(ax, m, rows, cols, vmin, vmax, title)
    fig.colorbar(im, ax=list(axes[0]), label="characters per token", shrink=0.8)
    return _png(fig)


def tokenizer_stats(out: str | Path, tokenizers, texts: str | Path | None = None, reference: str | Path | None = None,
                    force: bool = False, progress: bool = False) -> Path:
    """Measure every tokenizer (``["NAME=PATH", ...]`` or ``{name: path}``) on ``texts`` (``TEXTS/<lang>/``;
    None = the built-in corpus) and write table.csv, measures.csv, table.md, chars_per_token.png and heatmap.png
    to ``out``, with the author's published figures beside ours when ``reference`` is given; returns ``out``."""
    named = parse_named(tokenizers, "tokenizer", param="tokenizers")
    if not named:
        raise SubstrateError("give at least one tokenizer as NAME=PATH", param="tokenizers")
    inputs = [texts, reference, *named.values()]
    check_output(out, force=force, kind=KIND, inputs=inputs)  # before any long work
    if texts is not None and not glob.has_magic(str(texts)) and not Path(texts).exists():
        raise SubstrateError(f"texts {texts} do not exist", param="texts")
    ref = read_reference(reference) if reference is not None else None
    stats = measure(named, texts, progress=progress)
    files = {TABLE_CSV: table_csv(stats).encode("utf-8"), MEASURES_CSV: measures_csv(stats).encode("utf-8"),
             TABLE_MD: markdown(stats, ref).encode("utf-8"), BARS_PNG: bars_png(stats, ref),
             HEATMAP_PNG: heatmap_png(stats, ref)}
    out = Path(out)
    with atomic_output_dir(out, force=force, kind=KIND, inputs=inputs) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        write_manifest(tmp, KIND, SCHEMA, languages=stats.languages, tokenizers=stats.kinds,
                       texts=stats.texts, reference=ref is not None)
    return out
