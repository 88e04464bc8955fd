"""Encoder speed: ours vs the Hugging Face ``tokenizers`` library on the same tokenizer.json.

Run: ``.venv/bin/python benchmarks/bench_tokenizer.py [--reference DIR] [--repeat N]``

The paper's configuration (BPE, no pre-tokenizer: a whole document is one word) on 0.5 MB
documents of English (the built-in corpus), Russian and CJK (deterministic pseudo-text made here
from word and character lists), a batch of lines, and a linearity check over document sizes.
"ours" is the default encoder (the compiled BPE loop) returning a list, "array" the same
returning a numpy int32 array (``as_array=True``); "python" is the pure-Python oracle and
fallback (a dict of chunks and a plain merge loop), timed with an empty cache ("cold") and with
the cache another document of the same language left ("warm"). Every measurement first checks that the encoders
give the same ids. MB = 10^6 bytes of UTF-8. Single-thread rows are timed in process CPU time
(best of N), the all-core rows in wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RU_WORDS = (
    "и в не на что с по это как он она они мы вы быть весь этот который мочь человек год время "
    "рука дело жизнь день глаз работа слово место лицо друг дом вопрос сторона страна мир случай "
    "голова ребёнок сила конец вид система часть город отношение женщина деньги земля машина вода "
    "отец проблема час право нога решение дверь образ история власть закон война бог голос тысяча "
    "книга возможность результат ночь стол имя область статья число компания народ жена группа "
    "развитие процесс суд условие средство начало свет пора путь душа уровень форма связь минута "
    "улица вечер качество мысль дорога мать действие месяц государство язык любовь взгляд мама "
    "говорить сказать знать стать видеть хотеть идти думать сделать понимать спросить жить смотреть"
).split()
CJK_CHARS = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后"
    "小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
    "知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最"
    "间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市"
    "のにはをたがでてとしれさあいうえおかきくけこなやまらりるろ日本語東京時間学生先生"
)
PUNCT_RU = [",", ".", "!", "?", ":", "—"]
PUNCT_CJK = ["，", "。", "、", "！", "？", "「", "」"]


def russian_text(n_bytes: int, seed: int) -> str:
    """Deterministic Russian-looking prose of about ``n_bytes`` UTF-8 bytes."""
    rng = random.Random(seed)
    out, size = [], 0
    while size < n_bytes:
        words = [rng.choice(RU_WORDS) for _ in range(rng.randint(4, 14))]
        s = " ".join(words).capitalize() + rng.choice(PUNCT_RU) + rng.choice([" ", " ", "\n"])
        out.append(s)
        size += len(s.encode("utf-8"))
    return "".join(out)


def cjk_text(n_bytes: int, seed: int) -> str:
    """Deterministic CJK-looking prose (no spaces, CJK punctuation) of about ``n_bytes`` bytes."""
    rng = random.Random(seed)
    out, size = [], 0
    while size < n_bytes:
        s = "".join(rng.choice(CJK_CHARS) for _ in range(rng.randint(6, 30))) + rng.choice(PUNCT_CJK)
        if rng.random() < 0.1:
            s += "\n"
        out.append(s)
        size += len(s.encode("utf-8"))
    return "".join(out)


def english_text(n_bytes: int, offset: int = 0) -> str:
    """About ``n_bytes`` of the built-in corpus (standard-library docstrings), from byte ``offset``."""
    from unicode_substrate.corpus import builtin_documents

    data = "\n\n".join(builtin_documents()).encode("utf-8")
    return data[offset : offset + n_bytes].decode("utf-8", errors="ignore")


def best(fn, repeat: int, clock=time.process_time) -> float:
    """Fastest of ``repeat`` runs. Single-thread figures use CPU time, which a busy machine
    disturbs far less than wall time; the all-core figures pass a wall clock."""
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


def mbps(text: str, seconds: float) -> float:
    return len(text.encode("utf-8")) / 1e6 / seconds


def bench_document(name, tok, py, hf, text, warm_text, repeat):
    """One document: HF single-thread, ours (compiled; list and array), the Python path cold and warm."""
    want = hf.encode(text).ids
    assert tok.encode(text) == want and py.encode(text) == want, f"{name}: ids differ"
    assert tok.encode(text, as_array=True).tolist() == want, f"{name}: array ids differ"
    t_hf = best(lambda: hf.encode(text), max(1, repeat // 2))
    t_ours = best(lambda: tok.encode(text), repeat)
    t_array = best(lambda: tok.encode(text, as_array=True), repeat)

    def cold():
        py._cache.clear()
        py.encode(text)

    t_cold = best(cold, repeat)
    py._cache.clear()
    py.encode(warm_text)
    snapshot = dict(py._cache)

    def warm():
        py._cache = dict(snapshot)  # the cache as another document of the language left it
        t = time.process_time()
        py.encode(text)
        return time.process_time() - t

    t_warm = min(warm() for _ in range(repeat))
    return t_hf, t_ours, t_array, t_cold, t_warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference" / "bvv241")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from tokenizers import Tokenizer as HFTokenizer

    from unicode_substrate.tokenizer import Tokenizer, build_tokenizer

    tmp = Path(tempfile.mkdtemp(prefix="bench-tokenizer-"))
    configs = []
    ref = args.reference / "n-gramms-2-3.txt"
    if ref.is_file():
        configs.append(("bvv241-2-3", build_tokenizer(tmp / "p23", "bvv241-2-3", ngrams=ref)))
    else:
        print(f"(the paper's n-gram files are not at {args.reference}; benchmarking the lossless layout only)")
    configs.append(("lossless", build_tokenizer(tmp / "lossless")))

    half = 500_000
    docs = {
        "English": (english_text(half), english_text(half, offset=half + 1000)),
        "Russian": (russian_text(half, 1), russian_text(half, 2)),
        "CJK": (cjk_text(half, 1), cjk_text(half, 2)),
    }
    print(f"machine: {os.cpu_count()} CPU cores; MB = 10^6 bytes of UTF-8; best of {args.repeat}; "
          "single-thread rows in CPU time, all-core rows in wall time")
    for layout, path in configs:
        tok = Tokenizer.load(path)
        py = Tokenizer.load(path, native=False)
        if not tok.native:
            sys.exit("the compiled BPE loop is not built; run `make bootstrap`")
        hf = HFTokenizer.from_file(str(path / "tokenizer.json"))
        print(f"\n== layout {layout} (same tokenizer.json for all; ids checked equal)")
        print(f"{'text':<30}{'HF MB/s':>9}{'ours':>8}{'x HF':>7}{'array':>8}{'x HF':>7}   {'python cold':>11}{'warm':>7}{'x HF':>6}")
        for lang, (text, warm_text) in docs.items():
            t_hf, t_ours, t_array, t_cold, t_warm = bench_document(lang, tok, py, hf, text, warm_text, args.repeat)
            print(f"{lang + ' 0.5 MB document':<30}{mbps(text, t_hf):>9.2f}{mbps(text, t_ours):>8.1f}{t_hf / t_ours:>7.1f}"
                  f"{mbps(text, t_array):>8.1f}{t_hf / t_array:>7.1f}"
                  f"   {mbps(text, t_cold):>11.1f}{mbps(text, t_warm):>7.1f}{t_hf / t_cold:>6.1f}")
        lines = [line for line in docs["English"][0].splitlines() if line.strip()]
        joined = "\n".join(lines)
        assert tok.encode_batch(lines) == [e.ids for e in hf.encode_batch(lines)]
        t_hf1 = best(lambda: [hf.encode(s) for s in lines], max(1, args.repeat // 2))
        t_hfb = best(lambda: hf.encode_batch(lines), max(1, args.repeat // 2), clock=time.perf_counter)
        t_o1 = best(lambda: [tok.encode(s) for s in lines], args.repeat)
        t_ob1 = best(lambda: tok.encode_batch(lines, workers=1), args.repeat)
        tok.encode_batch(lines)  # start the threads outside the timing
        t_ob = best(lambda: tok.encode_batch(lines), args.repeat, clock=time.perf_counter)
        tok.close()
        n = len(lines)
        print(f"{f'{n} lines, encode per line':<30}{mbps(joined, t_hf1):>9.2f}{mbps(joined, t_o1):>8.1f}{t_hf1 / t_o1:>7.1f}")
        print(f"{f'{n} lines, batch, 1 thread':<30}{mbps(joined, t_hf1):>9.2f}{mbps(joined, t_ob1):>8.1f}{t_hf1 / t_ob1:>7.1f}")
        print(f"{f'{n} lines, batch, all cores':<30}{mbps(joined, t_hfb):>9.2f}{mbps(joined, t_ob):>8.1f}{t_hfb / t_ob:>7.1f}")
        print("linearity (English; ms per document):")
        for size in (125_000, 250_000, 500_000, 1_000_000, 2_000_000):  # the corpus ends near 1.8 MB
            text = english_text(size)
            t_hf = best(lambda: hf.encode(text), max(1, args.repeat // 2))
            t_o = best(lambda: tok.encode(text), args.repeat)
            print(f"  {len(text.encode('utf-8')) / 1e6:5.3f} MB: HF {mbps(text, t_hf):6.2f} MB/s ({t_hf * 1e3:6.0f} ms)   ours {mbps(text, t_o):6.1f} MB/s ({t_o * 1e3:5.1f} ms)")


if __name__ == "__main__":
    main()
