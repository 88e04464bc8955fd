"""substrate eval end to end on a tiny trained run and a tiny Hugging Face model; bad input in one line."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from _eval_helpers import make_run, write_export, write_original
from unicode_substrate.eval.tasks import TASKS as EVAL_TASKS
from unicode_substrate.cli import main

ALL = ",".join(EVAL_TASKS)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcli")
    run, tok = make_run(root)
    return {"root": root, "run": run, "tok": tok, "bench": write_original(root / "bench"),
            "parquet": write_export(root / "parquet")}


def _eval(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)])


def test_every_task_both_protocols(setup, tmp_path):
    out = tmp_path / "ev"
    res = _eval("--run", setup["run"], "--tasks", ALL, "--data-dir", setup["bench"], "--runs", "2", "--out", out)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    # the score table on the terminal, then where the results went
    lines = res.output.strip().splitlines()
    lines = lines[next(i for i, ln in enumerate(lines) if ln.startswith("task")):]  # after the progress lines
    assert lines[0].split()[:4] == ["task", "items", "paper", "metric"] and lines[-1] == f"results written to {out}"
    assert any(ln.split()[:2] == ["mmlu", "5"] for ln in lines[1:-1])
    assert sorted(results["results"]) == sorted(EVAL_TASKS)
    for task, r in results["results"].items():
        assert "paper" in r and 0 <= r["paper"]["score"] <= 100 and len(r["paper"]["runs"]) == 2
        assert ("loglik" in r) == (task not in ("squad", "translation"))
    assert results["results"]["mmlu"]["chance"] == 25.0 and results["results"]["csqa"]["chance"] == 20.0
    assert set(results["results"]["mmlu"]["groups"]) == {"toy_math", "toy_colors"}
    assert set(results["results"]["translation"]["groups"]) == {"en-ru", "ru-en"}
    assert results["settings"]["paper"]["runs"] == 2 and results["settings"]["paper"]["temperature"] == 1.0
    assert results["settings"]["fewshot"] == 0
    model = results["model"]
    assert len(model["checkpoint_manifest_sha256"]) == 64 and len(model["tokenizer_manifest_sha256"]) == 64
    assert len(model["table_manifest_sha256"]) == 64
    assert "mmlu/test/toy_math_test.csv" in results["benchmark_files_sha256"]
    assert not any("dev/" in f for f in results["benchmark_files_sha256"] if f.startswith("mmlu"))
    samples = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
    by = {(s["protocol"], s["task"], s["id"]): s for s in samples}
    # the prompts are the paper's templates, character for character
    s = by[("paper", "mmlu", "toy_math:1")]
    assert s["prompt"] == "Question: What is two plus two?\nOptions: A) 3 B) 4 C) 5 D) 6\nAnswer:"
    assert s["new_tokens"] == 1 and len(s["generations"]) == 2 and s["answer"] == "B"
    assert by[("paper", "arc-easy", "q2")]["prompt"] == \
        "Question: Water freezes into what?\nOptions:\n1) steam\n2) sand\n3) ice\n4) salt\nAnswer:"
    assert by[("paper", "squad", "s1")]["prompt"] == \
        "Context: The cat sat on the mat in Paris.\nQuestion: Where did the cat sit?\nAnswer:"
    assert by[("paper", "translation", "en-ru:opus.en-ru-dev:2")]["prompt"] == \
        "Translate from English to Russian:\na red house\nAnswer:"
    assert by[("paper", "translation", "ru-en:opus.en-ru-dev:2")]["prompt"] == \
        "Translate from Russian to English:\nкрасный дом\nAnswer:"
    ll = by[("loglik", "csqa", "c1")]
    assert ll["prompt"] == by[("paper", "csqa", "c1")]["prompt"] and len(ll["loglik"]) == 5
    assert ll["correct"] == (ll["pred"] == "B")
    md = (out / "results.md").read_text()
    assert "| mmlu | 5 | first-character accuracy |" in md and "| 25 |" in md
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "manifest.json").is_file()
    # the same inputs give the same bytes, the Parquet export the same items and scores
    again = tmp_path / "again"
    res = _eval("--run", setup["run"], "--tasks", ALL, "--data-dir", setup["parquet"], "--runs", "2", "--out", again)
    assert res.exit_code == 0, res.output
    other = json.loads((again / "results.json").read_text())
    for task in ("arc-easy", "csqa", "squad", "boolq"):  # ids equal in both forms: the same sampling seeds
        assert other["results"][task] == results["results"][task]


def test_deterministic_bytes(setup, tmp_path):
    args = ["--run", setup["run"], "--tasks", "mmlu,translation", "--data-dir", setup["bench"], "--runs", "2"]
    assert _eval(*args, "--out", tmp_path / "a").exit_code == 0
    assert _eval(*args, "--out", tmp_path / "b").exit_code == 0
    res = _eval(*args, "--out", tmp_path / "b")
    assert res.exit_code == 2 and "already exists" in res.output
    assert _eval(*args, "--out", tmp_path / "b", "--force").exit_code == 0
    for name in ("results.json", "samples.jsonl", "results.md", "results.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def _fails(res, text, out):
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], res.output
    assert not out.exists() and not any(p.name.startswith(f".{out.name}") for p in out.parent.iterdir())


def test_fewshot_mmlu_both_protocols(setup, tmp_path):
    out = tmp_path / "ev"
    res = _eval("--run", setup["run"], "--tasks", "mmlu", "--data-dir", setup["bench"], "--runs", "1", "--fewshot", "1",
                "--out", out)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["fewshot"] == 1
    assert "mmlu/dev/toy_math_dev.csv" in results["benchmark_files_sha256"]
    shot = "Question: What is one plus one?\nOptions: A) 1 B) 2 C) 3 D) 4\nAnswer: B\n\n"
    samples = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
    mine = [s for s in samples if s["id"] == "toy_math:1"]
    assert sorted(s["protocol"] for s in mine) == ["loglik", "paper"]
    assert all(s["prompt"] == shot + "Question: What is two plus two?\nOptions: A) 3 B) 4 C) 5 D) 6\nAnswer:"
               for s in mine)
    base = ["--run", setup["run"], "--data-dir", setup["bench"], "--out", tmp_path / "no"]
    _fails(_eval(*base, "--tasks", "mmlu", "--fewshot", "-1"), "--fewshot': -1 is out of range: it must be an integer at least 0", tmp_path / "no")
    _fails(_eval(*base, "--tasks", "mmlu,boolq", "--fewshot", "2"), "only mmlu has a dev split", tmp_path / "no")
    _fails(_eval("--run", setup["run"], "--data-dir", setup["parquet"], "--out", tmp_path / "no", "--tasks", "mmlu",
                 "--fewshot", "1"), "few-shot needs the mmlu dev split", tmp_path / "no")


def test_bad_input_is_one_line_and_writes_nothing(setup, tmp_path):
    from _train_helpers import make_char_tokenizer

    out = tmp_path / "ev"
    base = ["--run", setup["run"], "--data-dir", setup["bench"], "--out", out]
    _fails(_eval(*base, "--tasks", "mmlu,hellaswag"), "unknown task 'hellaswag'", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(_eval("--run", setup["run"], "--tasks", "arc-easy", "--data-dir", empty, "--out", out),
           "no arc-easy validation file below", out)
    bad = tmp_path / "bad"
    shutil.copytree(setup["bench"] / "boolq", bad / "boolq")
    with open(bad / "boolq" / "dev.jsonl", "a") as f:
        f.write('{"question": "q", "answer": true}\n')
    _fails(_eval("--run", setup["run"], "--tasks", "boolq", "--data-dir", bad, "--out", out),
           "dev.jsonl line 3: no passage", out)
    norun = tmp_path / "norun"
    norun.mkdir()
    shutil.copy(setup["run"] / "run.json", norun / "run.json")
    _fails(_eval("--run", norun, "--tasks", "boolq", "--data-dir", setup["bench"], "--out", out),
           "has no checkpoint to evaluate", out)
    other_tok = make_char_tokenizer(tmp_path / "tok2", "xyz")
    _fails(_eval(*base, "--tasks", "boolq", "--tokenizer", other_tok), "is not the one run", out)
    _fails(_eval("--tasks", "boolq", "--data-dir", setup["bench"], "--out", out), "exactly one", out)


@pytest.fixture
def hf_dir(tmp_path):
    """A tiny random GPT-2 with a character tokenizer, saved offline (nothing downloaded)."""
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from _eval_helpers import all_text

    chars = sorted(set(all_text()))
    vocab = {"<unk>": 0, "</s>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = Split("", "isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="</s>")
    path = tmp_path / "hf"
    fast.save_pretrained(path)
    import torch

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=1, eos_token_id=1)
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


def test_hf_model(setup, hf_dir, tmp_path):
    from unicode_substrate.eval.hf import HFModel

    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    lm = HFModel(hf_dir)  # stderr is not a terminal here: no \r frames of transformers' own loading bar in a log
    assert not hf_logging.is_progress_bar_enabled()
    ids = lm.encode("Answer: ab")
    assert lm.decode(ids) == "Answer: ab"
    out = tmp_path / "ev"
    res = _eval("--hf-model", hf_dir, "--tasks", "arc-easy,squad", "--data-dir", setup["bench"], "--runs", "2",
                "--out", out)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["kind"] == "hf" and "model.safetensors" in results["model"]["files_sha256"]
    assert results["results"]["arc-easy"]["loglik"]["n"] == 3
    # greedy with the HF cache equals a fresh full forward at each step
    import torch

    x = torch.tensor([ids])
    cached = lm._generate(x, 5, 0.0, None, None)
    full = x
    for _ in range(5):
        with torch.no_grad():
            nxt = lm.model(input_ids=full).logits[:, -1].argmax(-1, keepdim=True)
        full = torch.cat((full, nxt), dim=1)
    assert torch.equal(cached, full)


def _compare_args(setup, out) -> list:
    """A two-variant compare of 2 steps on the setup's data, table and benchmark folder."""
    from unicode_substrate.tokenizer import Tokenizer

    vocab = Tokenizer.load(setup["tok"]).vocab_size
    model = ["--set", f"vocab_size={vocab}", "--set", "d_model=16", "--set", "n_layer=1", "--set", "n_head=2",
             "--set", "context=32", "--set", "n_embed=8"]
    return ["compare", "--data", setup["root"] / "data", "--variant", f"glyph=tiny-glyph:{setup['root'] / 'table'}",
            "--variant", "trainable=tiny-unfrozen", *model, "--steps", "2", "--batch-size", "2", "--device", "cpu",
            "--no-progress", "--out", out, "--eval-data-dir", setup["bench"]]


def test_compare_carries_benchmark_columns(setup, tmp_path):
    out = tmp_path / "cmp"
    args = _compare_args(setup, out)
    res = CliRunner().invoke(main, [*map(str, args), "--eval-tasks", "arc-easy,squad", "--eval-runs", "2",
                                    "--eval-limit", "2"])
    assert res.exit_code == 0, res.output
    report = (out / "report.md").read_text()
    assert "| variant | final val bits/byte | arc-easy paper | arc-easy loglik acc | arc-easy loglik acc_norm | squad paper |" in report
    assert "Chance: arc-easy 25 %." in report
    for name in ("glyph", "trainable"):
        results = json.loads((out / "evals" / name / "results.json").read_text())
        assert results["results"]["arc-easy"]["n"] == 2 and results["model"]["run"].endswith(f"runs/{name}")
    res = CliRunner().invoke(main, [*map(str, args), "--eval-tasks", "arc-easy,nope", "--out", str(tmp_path / "c2")])
    assert res.exit_code == 2 and "unknown task 'nope'" in res.output and not (tmp_path / "c2" / "runs").exists()


def test_compare_over_seeds_gives_benchmark_intervals_and_paired_tests(setup, tmp_path):
    from unicode_substrate.experiments.stats import paired

    out = tmp_path / "cmp"
    args = [*_compare_args(setup, out), "--eval-tasks", "arc-easy", "--eval-protocol", "loglik", "--eval-limit", "3",
            "--seeds", "1,2"]
    res = CliRunner().invoke(main, [*map(str, args)])
    assert res.exit_code == 0, res.output
    record = json.loads((out / "compare.json").read_text())
    acc = {(v["variant"], v["seed"]): v["eval"]["arc-easy"]["loglik"] for v in record["variants"]}
    diff = next(d for d in record["differences"] if d["metric"] == "arc-easy loglik acc")
    ref = paired([acc[("glyph", s)] for s in (1, 2)], [acc[("trainable", s)] for s in (1, 2)])
    assert diff["diff_mean"] == pytest.approx(ref.diff.mean) and diff["n"] == 2
    report = (out / "report.md").read_text()
    assert "| variant | final val bits/byte | arc-easy loglik acc | arc-easy loglik acc_norm |" in report
    assert "Chance: arc-easy 25 %." in report and "| glyph − trainable | arc-easy loglik acc |" in report
    for name in ("glyph", "trainable"):
        for s in (1, 2):
            assert json.loads((out / "evals" / name / f"seed-{s}" / "results.json").read_text())["results"]["arc-easy"]["n"] == 3
