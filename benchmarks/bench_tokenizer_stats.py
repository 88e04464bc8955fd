"""``tokenizer-stats`` time: 32 languages × 60 kB of text × 4 tokenizers, the paper's benchmark at a user's scale.

Run: ``.venv/bin/python benchmarks/bench_tokenizer_stats.py [--kb 60] [--repeat 3]``

The texts are made here, deterministically, in a temporary folder: English from the built-in corpus,
every other language of the paper's table as pseudo-words over its own script (Latin with the
language's diacritics, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Bengali, Georgian, Armenian,
Hangul, kana and CJK ideographs without spaces), cut into documents of about 2 kB. The tokenizers:
ours (the lossless layout, n-grams from the built-in corpus) and three GPT-2-style byte-level BPE
vocabularies (4k, 16k and 50k ids) trained offline with the ``tokenizers`` library on the same texts.
Building them is not timed; the time is the whole ``tokenizer_stats`` call (reading the texts,
encoding, decoding, the measures, the tables and both pictures, the atomic write), wall clock,
median of ``--repeat`` runs, with the process's CPU time (all threads) and the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LATIN = "abcdefghijklmnopqrstuvwxyz"
# code -> the letters its pseudo-words are drawn from (None: English, read from the built-in corpus).
SCRIPTS = {
    "en": None, "az": LATIN + "çəğıöşü", "cs": LATIN + "áčďéěíňóřšťúůýž", "da": LATIN + "æøå", "nl": LATIN + "ëï",
    "fi": LATIN + "äö", "fr": LATIN + "àâçéèêëîïôùûü", "de": LATIN + "äöüß", "hu": LATIN + "áéíóöőúüű",
    "id": LATIN, "it": LATIN + "àèéìòù", "la": LATIN, "no": LATIN + "æøå", "pl": LATIN + "ąćęłńóśźż",
    "pt": LATIN + "áâãàçéêíóôõú", "es": LATIN + "áéíñóúü", "sv": LATIN + "åäö", "tr": LATIN + "çğıöşü",
    "vi": LATIN + "àáảãạăằắâầấđèéêềếìíòóôồốơờớùúưừứỳý",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя", "el": "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώ",
    "ar": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", "fa": "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی",
    "he": "אבגדהוזחטיכלמנסעפצקרשת", "hi": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह",
    "sa": "अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहं", "bn": "অআইঈউঊএঐওঔকখগঘচছজঝটঠডঢণতথদধনপফবভমযরলশষসহ",
    "ka": "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ", "hy": "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ",
    "ko": "가나다라마바사아자차카타파하고노도로모보소오조초코토포호구누두루무부수우주추쿠투푸후한국어", "ja": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん日本語東京時間学生先生",
    "zh": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后",
}  # fmt: skip
NO_SPACES = {"zh", "ja"}


def language_docs(code: str, n_bytes: int, seed: int, doc_bytes: int = 2000) -> list[str]:
    """About ``n_bytes`` of UTF-8 text of one language, in documents of about ``doc_bytes``."""
    if SCRIPTS[code] is None:
        from unicode_substrate.corpus import builtin_documents

        data = "\n\n".join(builtin_documents()).encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")
        return [data[k : k + doc_bytes] for k in range(0, len(data), doc_bytes)]
    rng = random.Random(seed)
    letters = SCRIPTS[code]
    docs, doc, size = [], [], 0
    while size < n_bytes:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 8) if code in NO_SPACES else rng.randint(2, 9)))
        end = rng.choice(["", "", "", "", ",", "."]) if code not in NO_SPACES else rng.choice(["", "", "，", "。"])
        piece = word + end + ("" if code in NO_SPACES else " ")
        doc.append(piece)
        size += len(piece.encode("utf-8"))
        if sum(len(p.encode("utf-8")) for p in doc) >= doc_bytes:
            docs.append("".join(doc))
            doc = []
    if doc:
        docs.append("".join(doc))
    return docs


def make_texts(root: Path, kb: int) -> int:
    """Write TEXTS/<lang>/docs.jsonl for the 32 languages; returns the bytes written (text only)."""
    import json

    total = 0
    for k, code in enumerate(sorted(SCRIPTS)):
        (root / code).mkdir(parents=True)
        docs = language_docs(code, kb * 1000, seed=k)
        total += sum(len(d.encode("utf-8")) for d in docs)
        with open(root / code / "docs.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    return total


def byte_level_bpe(out: Path, vocab_size: int, texts: list[str]) -> Path:
    """A GPT-2-style byte-level BPE tokenizer.json trained offline on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    out.mkdir(parents=True)
    tok.save(str(out / "tokenizer.json"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", type=int, default=60, help="kB of text per language")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from unicode_substrate.corpus import iter_documents
    from unicode_substrate.tokenizer import build_tokenizer
    from unicode_substrate.tokenizer.stats import tokenizer_stats

    with tempfile.TemporaryDirectory(prefix="bench-tokstats-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        n_bytes = make_texts(tmp / "texts", args.kb)
        every = [t for _, t in iter_documents(tmp / "texts")]
        toks = {"lossless": build_tokenizer(tmp / "lossless")}
        for size in (4_000, 16_000, 50_000):
            toks[f"bpe-{size // 1000}k"] = byte_level_bpe(tmp / f"bpe-{size}", size, every)
        print(f"set-up (texts, 4 tokenizers) {time.perf_counter() - t0:.1f} s; "
              f"{len(SCRIPTS)} languages, {n_bytes / 1e6:.2f} MB, {len(every)} documents")
        times, cpu = [], []
        for k in range(args.repeat):
            load = os.getloadavg()[0]
            t, c = time.perf_counter(), time.process_time()
            tokenizer_stats(tmp / "stats", toks, texts=tmp / "texts", force=k > 0)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)  # every thread of this process: what a busy machine does not inflate
            print(f"run {k + 1}: {times[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU (load average {load:.2f} at start)")
        print(f"tokenizer-stats, {len(SCRIPTS)} languages × {args.kb} kB × {len(toks)} tokenizers: "
              f"median {statistics.median(times):.2f} s wall of {args.repeat} (min {min(times):.2f} s), "
              f"median {statistics.median(cpu):.2f} s CPU; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
