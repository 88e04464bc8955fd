"""Evaluation speed: generation tokens/s with and without the key/value cache, and items/s of both protocols.

The model is the ``tiny-unfrozen`` preset (d 128, 4 layers, V 65,536, context 128) with random
weights; the items are synthetic MMLU- and ARC-shaped questions encoded one character per token,
so prompt lengths are those of short real items. Greedy outputs with and without the cache are
checked equal before timing. CPU figures are CPU time (``time.process_time``, one intra-op
thread), median of ``--repeats``, so other work on a shared machine disturbs them little; the peer
rows alternate ours and theirs in every repeat.

    python benchmarks/bench_eval.py
    python benchmarks/bench_eval.py --device cuda     # wall time on a GPU
    python benchmarks/bench_eval.py --device cuda --loglik-only   # benchmarks/gpu.sh's row
    python benchmarks/bench_eval.py --peer            # against lm-evaluation-harness and transformers generate

The peer rows (``--peer``) put the same model, as the ``GPTNeoXForCausalLM`` its export loads as,
behind lm-evaluation-harness's Hugging Face backend (``HFLM.loglikelihood``, the call its
multiple-choice tasks make, on the same context/continuation pairs) and behind ``generate``
(greedy, same prompts), with one character-level tokenizer shared by both sides.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time

import torch

from unicode_substrate.eval import loglik, paper
from unicode_substrate.eval.models import RunModel
from unicode_substrate.eval.tasks import Item
from unicode_substrate.model import GPT, get_preset


class CharModel(RunModel):
    """The GPT behind the evaluation interface of a run (``substrate eval``'s), one character per token."""

    def __init__(self, model, device):  # noqa: super().__init__ would load a run from disk
        self.model, self.context, self.device, self.description = model, model.cfg.context, device, {}
        self.cache = True

    def encode(self, text):
        return [ord(c) % self.model.cfg.vocab_size for c in text]

    def decode(self, ids):
        return "".join(chr(32 + i % 95) for i in ids)

    def _logits(self, ids):
        return self.model(ids)[0]

    def _generate(self, ids, n, temperature, top_k, gen):
        return self.model.generate(ids, n, temperature=temperature, top_k=top_k, generator=gen, use_cache=self.cache)


def _clock(device):
    if device == "cpu":
        return time.process_time
    def wall():
        torch.cuda.synchronize()
        return time.perf_counter()
    return wall


def timed(fn, repeats, clock):
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def paired(ours, theirs, repeats, clock):
    """Median times of ``ours`` and ``theirs`` run in alternation, so that load hits both alike."""
    a, b = [], []
    for _ in range(repeats):
        for fn, times in ((ours, a), (theirs, b)):
            t0 = clock()
            fn()
            times.append(clock() - t0)
    return statistics.median(a), statistics.median(b)


def items(n):
    mmlu = [Item("mmlu", f"m{i}", f"Which number is the {i}th one of this toy question set?", "ABCD"[i % 4],
                 tuple(zip("ABCD", (f"{i}", f"{i + 1}", f"{i + 2}", f"{i + 3}"))), group="toy") for i in range(n)]
    arc = [Item("arc-easy", f"a{i}", f"Which tool would a student use to measure item {i}?", "B",
                (("A", "a ruler"), ("B", "a balance"), ("C", "a thermometer"), ("D", "a clock"))) for i in range(n)]
    return mmlu, arc


def char_tokenizer():
    """A Hugging Face fast tokenizer that maps printable ASCII and newline to their code points."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "\n": 10, **{chr(i): i for i in range(32, 127)}}
    tok = Tokenizer(BPE(vocab, [], unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<unk>", pad_token="<unk>")


def peer(args) -> None:
    """items/s of the log-likelihood protocol against lm-eval's HFLM, tokens/s of greedy generation against generate."""
    import sys
    import tempfile

    import lm_eval
    import transformers
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_train import neox_twin
    from unicode_substrate.eval.prompts import continuations, prompt

    torch.manual_seed(0)
    model = GPT(get_preset("tiny-unfrozen"), backend="auto").eval()
    with tempfile.TemporaryDirectory() as tmp:
        twin = neox_twin(model, tmp).eval()
    hf_tok = char_tokenizer()
    lm = CharModel(model, "cpu")
    lm.encode = lambda text: hf_tok(text, add_special_tokens=False)["input_ids"]
    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # one truncation line per long request otherwise
    harness = HFLM(pretrained=twin, tokenizer=hf_tok, batch_size=args.peer_batch, device="cpu", dtype=torch.float32)
    clock = time.process_time
    print(f"\n== peers: lm-evaluation-harness {lm_eval.__version__} (HF backend), transformers "
          f"{transformers.__version__} generate; the export's GPTNeoXForCausalLM of the same weights; 1 thread, CPU time")
    print(f"{'log-likelihood, 4 choices':<32} {'ours items/s':>12} {'lm-eval':>8} {'x':>6} {'max |ll diff|':>14}")
    for name, its in zip(("MMLU-shaped", "ARC-shaped"), items(args.items)):
        reqs = [Instance("loglikelihood", {}, (prompt(it), c), i) for i, it in enumerate(its) for c in continuations(it)]
        ours_ll = [ll for r in loglik.run_items(lm, its, batch_size=args.peer_batch) for ll in r["loglik"]]
        theirs_ll = [ll for ll, _ in harness.loglikelihood(reqs, disable_tqdm=True)]
        diff = max(abs(a - b) for a, b in zip(ours_ll, theirs_ll))
        t_ours, t_theirs = paired(lambda: loglik.run_items(lm, its, batch_size=args.peer_batch),
                                  lambda: harness.loglikelihood(reqs, disable_tqdm=True), args.repeats, clock)
        print(f"{name + f', batch {args.peer_batch}':<32} {len(its) / t_ours:>12.1f} {len(its) / t_theirs:>8.1f} "
              f"{t_theirs / t_ours:>6.2f} {diff:>14.1e}")
    print(f"{'greedy generation, prompt 32':<32} {'ours tok/s':>12} {'generate':>8} {'x':>6} {'same tokens':>14}")
    prompt_ids = torch.randint(32, 127, (1, 32), generator=torch.Generator().manual_seed(0))
    for batch, new in ((1, 16), (1, 96), (10, 96)):
        x = prompt_ids.expand(batch, -1).contiguous()
        mask = torch.ones_like(x)

        def theirs():
            return twin.generate(input_ids=x, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                                 do_sample=False, pad_token_id=0)

        def ours():
            return model.generate(x, new, temperature=0)

        with torch.no_grad():
            same = torch.equal(ours(), theirs())
            t_ours, t_theirs = paired(ours, theirs, args.repeats, clock)
        print(f"{f'batch {batch}, {new} new':<32} {batch * new / t_ours:>12,.0f} {batch * new / t_theirs:>8,.0f} "
              f"{t_theirs / t_ours:>6.2f} {str(same):>14}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--peer", action="store_true", help="only the rows against lm-evaluation-harness and generate")
    ap.add_argument("--peer-batch", type=int, default=16, help="batch size of both sides in the peer rows")
    ap.add_argument("--loglik-only", action="store_true", help="only the log-likelihood items/s (benchmarks/gpu.sh)")
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    if args.peer:
        if args.device != "cpu":
            raise SystemExit("error: the peer rows run on CPU only")
        peer(args)
        return
    torch.manual_seed(0)
    model = GPT(get_preset("tiny-unfrozen"), backend="auto").to(args.device).eval()
    lm = CharModel(model, args.device)
    clock = _clock(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ", 1 thread, CPU time"))
    print(f"model: tiny-unfrozen, {model.num_parameters():,} parameters, context {model.cfg.context}")

    mmlu, arc = items(args.items)
    if not args.loglik_only:
        generation_and_paper(model, lm, args, clock, mmlu, arc)
    print(f"\n== log-likelihood throughput ({args.items} items per set; items/s)")
    print(f"{'protocol':<34} {'batch 16':>8} {'batch 1':>9} {'x':>6}")
    for name, its in (("loglik, MMLU-shaped, 4 choices", mmlu), ("loglik, ARC-shaped, 4 choices", arc)):
        rate = {bs: len(its) / timed(lambda: loglik.run_items(lm, its, batch_size=bs), args.repeats, clock)
                for bs in (16, 1)}
        print(f"{name:<34} {rate[16]:>8.1f} {rate[1]:>9.1f} {rate[16] / rate[1]:>6.2f}")


def generation_and_paper(model, lm, args, clock, mmlu, arc) -> None:
    """Generation tokens/s with and without the cache, and the paper protocol's items/s."""
    print("\n== generation (prompt 32 tokens; tokens/s = batch x new tokens / time)")
    print(f"{'batch':>5} {'new':>4} {'cache tok/s':>12} {'no cache':>10} {'x':>6}")
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 32), generator=torch.Generator().manual_seed(0)).to(args.device)
    for batch, new in ((1, 16), (1, 96), (10, 2), (10, 96)):
        x = prompt.expand(batch, -1).contiguous()
        with torch.no_grad():
            a = model.generate(x, new, temperature=0, use_cache=True)
            b = model.generate(x, new, temperature=0, use_cache=False)
        assert torch.equal(a, b), "greedy outputs differ with and without the cache"
        rate = {}
        for cache in (True, False):
            t = timed(lambda: model.generate(x, new, temperature=0, use_cache=cache), args.repeats, clock)
            rate[cache] = batch * new / t
        print(f"{batch:>5} {new:>4} {rate[True]:>12,.0f} {rate[False]:>10,.0f} {rate[True] / rate[False]:>6.2f}")

    sampling = paper.Sampling(runs=10, temperature=1.0, top_k=50, seed=0)
    print(f"\n== evaluation throughput ({args.items} items per set; items/s)")
    print(f"{'protocol':<34} {'cache':>8} {'no cache':>9} {'x':>6}")
    for name, its in (("paper, MMLU-shaped, 10 runs, N=1", mmlu), ("paper, ARC-shaped, 10 runs, N=2", arc)):
        rate = {}
        for cache in (True, False):
            lm.cache = cache
            t = timed(lambda: [paper.run_item(lm, it, sampling) for it in its], args.repeats, clock)
            rate[cache] = len(its) / t
        print(f"{name:<34} {rate[True]:>8.1f} {rate[False]:>9.1f} {rate[True] / rate[False]:>6.2f}")


if __name__ == "__main__":
    main()
