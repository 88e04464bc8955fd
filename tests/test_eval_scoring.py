"""Scoring of both protocols against models whose outputs are known, and the templates character for character."""

from __future__ import annotations

import pytest
import torch

from conftest import tolerance
from unicode_substrate.eval import loglik, paper
from unicode_substrate.eval.models import LanguageModel
from unicode_substrate.eval.prompts import continuations, new_tokens, prompt
from unicode_substrate.eval.tasks import Item

MMLU = [Item("mmlu", f"m{i}", f"q{i}?", ans, tuple(zip("ABCD", ("w", "x", "y", "z"))), group="s")
        for i, ans in enumerate("ABCDB")]
ARC = [Item("arc-easy", "a1", "Which?", "2", (("1", "one"), ("2", "two"), ("3", "three")))]
BOOLQ = [Item("boolq", "b1", "is it", "False", (("True", "True"), ("False", "False")), context="It is not.")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class StubModel(LanguageModel):
    """Characters as token ids; generation returns ``answer(prompt)`` whatever the sampling."""

    context, device, description = 10_000, "cpu", {"kind": "stub"}

    def __init__(self, answer):
        self.answer = answer

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(map(chr, ids))

    def generate(self, prompt_ids, n_new, n_samples, temperature, top_k, seed):
        return [self.encode(self.answer(self.decode(prompt_ids))) for _ in range(n_samples)], 0


def _paper_score(items, answer, runs=3):
    lm = StubModel(answer)
    recs = [paper.run_item(lm, it, paper.Sampling(runs=runs)) for it in items]
    return paper.summarize(recs, runs, percent=True), recs


def test_templates_character_for_character():
    assert prompt(MMLU[0]) == "Question: q0?\nOptions: A) w B) x C) y D) z\nAnswer:"
    assert prompt(ARC[0]) == "Question: Which?\nOptions:\n1) one\n2) two\n3) three\nAnswer:"
    assert prompt(Item("squad", "s", "Who?", "Ann", context="Ann ran.")) == "Context: Ann ran.\nQuestion: Who?\nAnswer:"
    assert prompt(Item("translation", "t", "hello", "привет", group="en-ru")) == \
        "Translate from English to Russian:\nhello\nAnswer:"
    assert prompt(Item("translation", "t", "你好", "hello", group="zh-en")) == \
        "Translate from Chinese to English:\n你好\nAnswer:"
    assert prompt(BOOLQ[0]).endswith("\nAnswer (True/False):")
    assert [new_tokens(MMLU[0]), new_tokens(ARC[0]), new_tokens(Item("squad", "s", "q", "the mat"))] == [1, 2, 7]
    assert new_tokens(Item("translation", "t", "q", "x" * 300, group="en-ru")) == 100


def test_non_letter_always_a_and_always_right():
    assert _paper_score(MMLU, lambda p: " 42")[0]["score"] == 0.0
    assert _paper_score(MMLU, lambda p: "")[0]["score"] == 0.0  # empty output is wrong, not a match
    always_a, recs = _paper_score(MMLU, lambda p: " a) w")  # lower case: the output is upper-cased first
    assert always_a["score"] == pytest.approx(20.0) and always_a["ci95"] == 0.0 and always_a["n"] == 5
    assert recs[0]["parsed"] == ["A"] * 3
    gold = {prompt(it): it.answer for it in MMLU + ARC + BOOLQ}
    for items in (MMLU, ARC, BOOLQ):
        assert _paper_score(items, lambda p: f" {gold[p]}")[0]["score"] == 100.0
    assert _paper_score(BOOLQ, lambda p: "false.")[0]["score"] == 100.0  # T/F by first letter


def test_mean_and_ci_over_runs():
    mean, ci = paper.mean_ci([20.0, 40.0])
    assert mean == 30.0 and ci == pytest.approx(1.96 * 10.0 / 2 ** 0.5)
    recs = [{"scores": [1.0, 0.0]}, {"scores": [1.0, 1.0]}]
    s = paper.summarize(recs, 2, percent=True)
    assert s["runs"] == [100.0, 50.0] and s["score"] == 75.0 and s["ci95"] == pytest.approx(1.96 * 25 / 2 ** 0.5)


def test_squad_containment_and_translation_bleu():
    import sacrebleu

    assert paper.score_squad(" on the mat.", "the mat") == ("ON THE MAT.", 1.0)
    assert paper.score_squad(" THE MAT", "the mat")[1] == 1.0
    assert paper.score_squad(" the hat", "the mat")[1] == 0.0
    gen, bleu = paper.score_translation(" the big red house</s> junk", "the big red house")
    assert gen == "THE BIG RED HOUSE" and bleu == pytest.approx(100.0)
    # the paper's call, on upper-cased text: a partial match scores what sacrebleu says
    gen, bleu = paper.score_translation(" a big red house by the sea", "the big red house by the lake")
    assert bleu == pytest.approx(sacrebleu.corpus_bleu([gen], [["THE BIG RED HOUSE BY THE LAKE"]]).score)
    assert 0 < bleu < 100
    assert paper.score_translation("zzz", "the red house")[1] == 0.0


class TableModel(StubModel):
    """Log-likelihoods from a table: continuation text -> value."""

    def __init__(self, values):
        self.values = values

    def logliks(self, requests, batch_size=16):
        return [self.values[self.decode(cont)] for _, cont in requests]


def test_loglik_acc_and_acc_norm():
    item = ARC[0]  # choices "one", "two", "three" (3, 3, 5 characters; lm-eval excludes the delimiter)
    assert continuations(item) == [" one", " two", " three"]
    lm = TableModel({" one": -4.0, " two": -4.4, " three": -5.4})
    (rec,) = loglik.run_items(lm, [item])
    # acc: " one" is likeliest (wrong); acc_norm: -5.4/5 = -1.08 beats -4.0/3 and -4.4/3 (also wrong)
    assert rec["pred"] == "1" and rec["pred_norm"] == "3" and not rec["correct"] and not rec["correct_norm"]
    assert rec["chars"] == [3, 3, 5] and rec["bytes"] == [3, 3, 5]
    lm = TableModel({" one": -9.0, " two": -4.4, " three": -5.4})
    (rec,) = loglik.run_items(lm, [item])
    assert rec["correct"] and rec["prompt"] == prompt(item)
    s = loglik.summarize([rec, {**rec, "correct": False, "correct_norm": False, "correct_bytes": False}])
    assert s["acc"] == 50.0 and s["n"] == 2 and s["interval"] == "wilson95"
    # Wilson for 1 of 2: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), inside [0, 100]
    assert s["acc_low"] == pytest.approx(9.4531, abs=1e-3) and s["acc_high"] == pytest.approx(90.5469, abs=1e-3)


def test_acc_norm_counts_characters_and_acc_bytes_utf8_bytes():
    """The per-character and per-byte rules pick differently on non-ASCII choices, as in lm-eval."""
    item = Item(task="arc-easy", id="u", question="q", answer="A", choices=(("A", "ééé"), ("B", "abcd")))
    lm = TableModel({" ééé": -3.3, " abcd": -4.0})  # per char: -1.1 vs -1.0 -> B; per byte (6 vs 4): -0.55 vs -1.0 -> A
    (rec,) = loglik.run_items(lm, [item])
    assert rec["chars"] == [3, 4] and rec["bytes"] == [6, 4]
    assert rec["pred"] == "A" and rec["pred_norm"] == "B" and rec["pred_bytes"] == "A"
    assert rec["correct_bytes"] and not rec["correct_norm"]


def test_an_empty_option_is_scored_as_lm_eval_divides_not_a_zero_division():
    """An MMLU row may hold an empty option: lm-eval's numpy division makes its normalised score -inf
    (never picked); ours gave a ZeroDivisionError."""
    import numpy as np

    item = Item(task="mmlu", id="e", question="q", answer="B", choices=(("A", ""), ("B", "yes"), ("C", "no")))
    lls = {" ": -0.5, " yes": -2.0, " no": -3.0}
    (rec,) = loglik.run_items(TableModel(lls), [item])
    assert rec["chars"] == [0, 3, 2] and rec["pred"] == "A"  # raw log-likelihood: the empty option wins
    with np.errstate(divide="ignore"):
        ref = int(np.argmax(np.array([-0.5, -2.0, -3.0]) / np.array([0.0, 3.0, 2.0])))  # lm-eval's acc_norm
    assert rec["pred_norm"] == "ABC"[ref] == "B" and rec["pred_bytes"] == "B"


def test_wilson_interval_stays_inside_0_100():
    for k, n in ((0, 1), (1, 1), (0, 3), (3, 3), (1, 2), (5, 12)):
        lo, hi = loglik.wilson(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    lo, hi = loglik.wilson(0, 4)
    assert lo == 0.0 and hi == pytest.approx(0.4899, abs=1e-4)  # z²/(n + z²) for k = 0
    assert loglik.wilson(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)


def test_letters_score_mmlu_and_csqa_by_letter_and_arc_by_text():
    mmlu = Item(task="mmlu", id="m", question="q", answer="B", choices=(("A", "x"), ("B", "y")))
    arc = Item(task="arc-easy", id="a", question="q", answer="1", choices=(("1", "x"), ("2", "y")))
    assert loglik.choice_strings(mmlu, "letters") == ["A", "B"] and loglik.choice_strings(mmlu, "text") == ["x", "y"]
    assert loglik.choice_strings(arc, "letters") == ["x", "y"]
    lm = TableModel({" A": -2.0, " B": -1.0, " x": -0.5, " y": -3.0})
    (rec,) = loglik.run_items(lm, [mmlu], choices="letters")
    assert rec["continuations"] == [" A", " B"] and rec["correct"]
    (rec,) = loglik.run_items(lm, [mmlu], choices="text")
    assert not rec["correct"]


class SplitModel(StubModel):
    """Characters as ids, but " y" is one token (as BPE merges a space into the next word)."""

    def __init__(self):
        super().__init__(answer=lambda p: "")

    def encode(self, text):
        ids, i = [], 0
        while i < len(text):
            if text.startswith(" y", i):
                ids.append(1000)
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return ids


def test_pair_is_encoded_whole_then_split_after_the_context():
    lm = SplitModel()
    chars = lambda t: [ord(c) for c in t]
    assert loglik.encode_pair(lm, "Answer:", " yes") == (chars("Answer:"), [1000, *chars("es")])
    # a trailing space of the context moves to the continuation, so " y" still merges, as in lm-eval;
    # encoding the parts separately would give ("Answer: ", "yes") and a lone space token
    assert loglik.encode_pair(lm, "Answer: ", "yes") == (chars("Answer:"), [1000, *chars("es")])
    # the continuation is the whole string's tokens after the context's count, not its own encoding
    ctx, cont = loglik.encode_pair(lm, "Answer:", " x yy")
    assert cont == lm.encode("Answer: x yy")[len(ctx):] == [*chars(" x"), 1000, ord("y")]


class TinyGPT(LanguageModel):
    """A real tiny GPT behind the evaluation interface, characters as ids (mod the vocabulary)."""

    def __init__(self, context=24):
        from unicode_substrate.model.config import ModelConfig
        from unicode_substrate.model.gpt import GPT

        torch.manual_seed(0)
        self.model = GPT(ModelConfig(vocab_size=97, d_model=32, n_layer=2, n_head=2, context=context,
                                     embedding="trainable"), backend="torch").eval()
        self.context, self.device, self.description = context, "cpu", {"kind": "tiny"}

    def encode(self, text):
        return [ord(c) % 97 for c in text]

    def _logits(self, ids):
        return self.model(ids)[0]


def test_loglik_equals_per_token_sum_of_one_full_forward():
    lm = TinyGPT()
    reqs = [(lm.encode("Question: a?\nAnswer:")[-10:], lm.encode(" yes")), (lm.encode("Q:"), lm.encode(" no way")),
            (lm.encode("Longer prompt here"), lm.encode(" x"))]
    got = lm.logliks(reqs, batch_size=2)  # batched and right-padded
    for (ctx, cont), value in zip(reqs, got):
        seq = torch.tensor([ctx + cont])
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(seq)[0][0].float(), dim=-1)
        expected = sum(float(logp[len(ctx) - 1 + j, tok]) for j, tok in enumerate(cont))
        torch.testing.assert_close(torch.tensor(value), torch.tensor(expected), **tolerance(torch.float32))
    # a prompt longer than the context is cut from the left; the result is that window's score
    long_ctx = lm.encode("x" * 40)
    (cut,) = lm.logliks([(long_ctx, lm.encode(" yes"))])
    (window,) = lm.logliks([(long_ctx[-(lm.context + 1 - 4):], lm.encode(" yes"))])
    assert cut == pytest.approx(window, abs=1e-5)


def test_loglik_requests_that_extend_one_input_share_its_row():
    lm = TinyGPT()
    ctx = lm.encode("Which one?\nA:")
    # " a", " b" and " c" feed the same input (ctx + " "); " ab" feeds ctx + " a", which extends it
    reqs = [(ctx, lm.encode(c)) for c in (" a", " b", " c", " ab")] + [(lm.encode("Q:"), lm.encode(" no"))]
    seen = []
    inner = lm._logits_at

    def spy(ids, rows, cols):
        seen.append((ids.shape[0], rows.numel()))
        return inner(ids, rows, cols)

    lm._logits_at = spy
    got = lm.logliks(reqs, batch_size=8)
    assert seen == [(2, 6)]  # two rows; the first scored after ctx, " " and " a", the other at its 3 tokens
    for (c, cont), value in zip(reqs, got):
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(torch.tensor([c + cont]))[0][0].float(), dim=-1)
        expected = sum(float(logp[len(c) - 1 + j, tok]) for j, tok in enumerate(cont))
        torch.testing.assert_close(torch.tensor(value), torch.tensor(expected), **tolerance(torch.float32))


def test_generation_is_seeded_and_fits_the_context():
    lm = TinyGPT()
    lm._generate = lambda ids, n, t, k, g: lm.model.generate(ids, n, temperature=t, top_k=k, generator=g)
    a, dropped = lm.generate(lm.encode("y" * 30), 4, 3, 1.0, 10, seed=5)
    b, _ = lm.generate(lm.encode("y" * 30), 4, 3, 1.0, 10, seed=5)
    assert a == b and len(a) == 3 and all(len(x) == 4 for x in a) and dropped == 30 - (24 - 4)
