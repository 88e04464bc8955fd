"""results.txt in the author's line format, and results-table over our eval directories and the author's files."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
import torch

from _cli_helpers import one_line_error, run_cli
from _eval_helpers import write_original
from conftest import REFERENCE_DIR
from unicode_substrate.eval.models import LanguageModel
from unicode_substrate.eval.runner import evaluate

RESULTS_DIR = Path(os.environ.get("SUBSTRATE_RESULTS_DIR", REFERENCE_DIR.parent / "results"))
# The author's plotting notebook (_models_benchmarking.plot.ipynb) parses result files with this (SPEC E).
AUTHOR_REGEX = re.compile(r"\s\S+\s([A-Z\-]+)(?: \[([^\]]+)\])?:\s+([0-9.]+)%", re.MULTILINE)
AUTHOR_PARAMS = re.compile(r"(^\S+).*Total parameters:\s*([0-9.]+[MB])", re.MULTILINE)
# The author's line, {model} {TASK}[ [{group}]]: {mean:.2f}% ± {ci95:.2f}% (σ={sd:.2f}%), in full.
LINE = re.compile(r"^(\S+) ([A-Za-z\-]+)(?: \[([^\]]+)\])?: (\d+\.\d\d)% ± (\d+\.\d\d)% \(σ=(\d+\.\d\d)%\)$")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TinyLM(LanguageModel):
    """A real tiny GPT, characters as ids (mod the vocabulary), behind the evaluation interface."""

    def __init__(self, name="tiny-model"):
        from unicode_substrate.model.config import ModelConfig
        from unicode_substrate.model.gpt import GPT

        torch.manual_seed(0)
        self.model = GPT(ModelConfig(vocab_size=1200, d_model=16, n_layer=1, n_head=2, context=96,
                                     embedding="trainable"), backend="torch").eval()
        self.context, self.device, self.description = 96, "cpu", {"kind": "tiny", "run": f"runs/{name}"}

    def encode(self, text):
        return [ord(c) % 1200 for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)

    def _logits(self, ids):
        return self.model(ids)[0]

    def _generate(self, ids, n_new, temperature, top_k, generator):
        return self.model.generate(ids, n_new, temperature=temperature, top_k=top_k, generator=generator)


@pytest.fixture(scope="module")
def evals(tmp_path_factory):
    """Two eval directories of the tiny model on every task's fixture: both protocols, and loglik only."""
    root = tmp_path_factory.mktemp("results")
    bench = write_original(root / "bench")
    lm = TinyLM()
    tasks = "mmlu,arc-easy,arc-challenge,csqa,squad,boolq,translation"
    both = evaluate(root / "both", tasks, bench, lm=lm, runs=3)
    ll = evaluate(root / "ll", "mmlu,arc-easy", bench, lm=TinyLM("other"), protocol="loglik")
    return root, both, ll


def _author_files() -> list[Path]:
    files = sorted(RESULTS_DIR.glob("_models_benchmarking_*.txt"))
    if not files:
        pytest.skip(f"the author's released result files are not in {RESULTS_DIR}")
    return files


def test_results_txt_is_the_authors_line_format(evals):
    _, both, _ = evals
    results = json.loads((both / "results.json").read_text())
    text = (both / "results.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == "" and all(lines[:-1])
    n_params = results["model"]["parameters"]
    assert n_params == sum(p.numel() for p in TinyLM().model.parameters())
    assert re.fullmatch(r"tiny-model Total parameters:     [0-9.]+M", lines[0])
    assert float(lines[0].split()[-1][:-1]) == pytest.approx(n_params / 1e6, rel=5e-3)
    parsed = [LINE.match(ln) for ln in lines[1:-1]]
    assert all(parsed), lines
    labels = [(m.group(2), m.group(3)) for m in parsed]
    # the author's order: every MMLU subject, MMLU, ARC-e, ARC-c, C-SENSE, SQUAD, (BOOLQ,) BLEU per direction
    assert labels == [("MMLU", "toy_colors"), ("MMLU", "toy_math"), ("MMLU", None), ("ARC-e", None), ("ARC-c", None),
                      ("C-SENSE", None), ("SQUAD", None), ("BOOLQ", None), ("BLEU", "en-ru"), ("BLEU", "ru-en")]
    # the numbers are results.json's paper protocol: mean, 1.96σ/√runs and σ (population) over the runs
    arc = results["results"]["arc-easy"]["paper"]
    runs = arc["runs"]
    mean = sum(runs) / len(runs)
    sd = (sum((r - mean) ** 2 for r in runs) / len(runs)) ** 0.5
    m = parsed[3]
    assert m.groups()[3:] == (f"{arc['score']:.2f}", f"{arc['ci95']:.2f}", f"{sd:.2f}")
    assert m.group(5) == f"{1.96 * sd / len(runs) ** 0.5:.2f}"
    bleu = results["results"]["translation"]["groups"]["ru-en"]["paper"]["score"]
    assert parsed[-1].group(4) == f"{bleu:.2f}"


def test_the_authors_plotting_regex_reads_ours(evals):
    _, both, _ = evals
    ours = (both / "results.txt").read_text(encoding="utf-8")
    m = AUTHOR_PARAMS.search(ours)
    assert m and m.group(1) == "tiny-model"
    got = [(m.group(1), m.group(2), float(m.group(3))) for m in AUTHOR_REGEX.finditer(ours)]
    want = [(m.group(2), m.group(3), float(m.group(4))) for m in (LINE.match(ln) for ln in ours.splitlines()[1:])]
    # The notebook's [A-Z\-]+ does not match the lower-case e and c of "ARC-e" and "ARC-c": it skips those
    # lines in the released files too, and in ours in the same way; every other line it reads in full.
    assert got == [w for w in want if w[0] not in ("ARC-e", "ARC-c")]


def test_the_authors_plotting_regex_skips_arc_in_the_released_files_too():
    for path in _author_files():
        text = path.read_text(encoding="utf-8")
        released = {(m.group(1), m.group(2)) for m in AUTHOR_REGEX.finditer(text)}
        assert ("ARC-e", None) not in released and ("MMLU", None) in released and ("SQUAD", None) in released


def test_a_loglik_only_eval_names_its_metrics_and_has_no_paper_lines(evals):
    _, _, ll = evals
    text = (ll / "results.txt").read_text(encoding="utf-8")
    assert text.count("\n") == 1 and "Total parameters" in text  # the format holds the paper protocol only
    md = (ll / "results.md").read_text(encoding="utf-8")
    assert "first-character" not in md and "paper metric" not in md
    assert "| task | items | loglik acc | loglik acc_norm | loglik acc_bytes | chance |" in md
    results = json.loads((ll / "results.json").read_text())
    assert results["results"]["mmlu"]["metric"] == {"loglik": "acc, acc_norm, acc_bytes (lm-evaluation-harness)"}
    r = results["results"]["arc-easy"]["loglik"]
    for key in ("acc", "acc_norm", "acc_bytes"):
        assert 0 <= r[f"{key}_low"] <= r[key] <= r[f"{key}_high"] <= 100
    row = next(ln for ln in md.splitlines() if ln.startswith("| arc-easy |"))
    assert f"{r['acc']:.2f} [{r['acc_low']:.2f}, {r['acc_high']:.2f}]" in row


def test_released_files_parse_in_full():
    from unicode_substrate.eval.results_txt import parse

    for path in _author_files():
        p = parse(path)
        lines = [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]
        assert len(p["scores"]) == len(lines) - 1 and p["parameters"].endswith("B")
        assert p["model"] == path.stem.removeprefix("_models_benchmarking_")
        assert ("ARC-e", None) in p["scores"] and ("MMLU", None) in p["scores"]


def test_results_table_puts_an_author_file_and_our_runs_in_one_table(evals, tmp_path):
    root, both, ll = evals
    author = _author_files()
    moe = next(p for p in author if p.name.endswith("best_bvv_moe.txt"))
    out = tmp_path / "table"
    res = run_cli("results-table", moe, both, ll, "--out", out)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"results table written to {out}"
    rows = list(csv.reader(io.StringIO((out / "table.csv").read_text(encoding="utf-8"))))
    header, body = rows[0], {r[0]: r for r in rows[1:]}
    assert header[:5] == ["task", "chance", "best_bvv_moe", "best_bvv_moe low", "best_bvv_moe high"]
    assert "tiny-model" in header and "tiny-model loglik acc_norm" in header and "other loglik acc" in header
    assert "other" not in header  # a loglik-only eval has no paper column
    assert list(body) == ["MMLU", "ARC-e", "ARC-c", "C-SENSE", "SQUAD", "BOOLQ",
                          "BLEU [en-ru]", "BLEU [ru-en]", "BLEU [en-zh]", "BLEU [zh-en]"]
    col = header.index("best_bvv_moe")
    # the released file's numbers, as printed: 23.74% ± 0.63% for ARC-e
    assert body["ARC-e"][col:col + 3] == ["23.74", "23.11", "24.37"] and body["ARC-e"][1] == "25"
    assert body["C-SENSE"][1] == "20" and body["SQUAD"][1] == "" and body["BLEU [en-zh]"][col] == "2.93"
    ours = json.loads((both / "results.json").read_text())["results"]
    c = header.index("tiny-model")
    assert body["ARC-c"][c] == f"{ours['arc-challenge']['paper']['score']:.2f}"
    assert body["BLEU [en-zh]"][c] == ""  # not run: empty, not 0
    other = json.loads((ll / "results.json").read_text())["results"]["arc-easy"]["loglik"]
    c = header.index("other loglik acc")
    assert body["ARC-e"][c:c + 3] == [f"{other[k]:.2f}" for k in ("acc", "acc_low", "acc_high")]
    md = (out / "table.md").read_text(encoding="utf-8")
    assert "| ARC-e | 25 | 23.74 ± 0.63 |" in md and "Wilson" in md
    assert "| best_bvv_moe | author file | 0.9B |" in md
    assert (out / "table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "manifest.json").is_file()
    # deterministic bytes; --groups adds the MMLU subjects
    again = tmp_path / "again"
    assert run_cli("results-table", moe, both, ll, "--out", again).exit_code == 0
    for name in ("table.md", "table.csv", "table.png"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    res = run_cli("results-table", moe, both, "--out", again, "--force", "--groups")
    assert res.exit_code == 0, res.output
    assert "MMLU [toy_math]" in (again / "table.csv").read_text() and "MMLU [virology]" in (again / "table.csv").read_text()


def test_our_results_txt_reads_back_as_an_author_file(evals, tmp_path):
    root, both, _ = evals
    out = tmp_path / "t"
    assert run_cli("results-table", both / "results.txt", "--out", out).exit_code == 0
    rows = list(csv.reader(io.StringIO((out / "table.csv").read_text(encoding="utf-8"))))
    ours = json.loads((both / "results.json").read_text())["results"]
    body = {r[0]: r for r in rows[1:]}
    assert body["SQUAD"][2] == f"{ours['squad']['paper']['score']:.2f}"


def test_eval_never_writes_over_its_benchmark_folder(evals, tmp_path):
    from unicode_substrate.errors import SubstrateError

    root, _, _ = evals
    bench = root / "bench"
    before = sorted(p.relative_to(bench) for p in bench.rglob("*"))
    for out in (bench, root):  # the folder itself, and a folder holding it
        with pytest.raises(SubstrateError, match="input of this command"):
            evaluate(out, "arc-easy", bench, lm=TinyLM(), protocol="loglik", force=True)
    assert sorted(p.relative_to(bench) for p in bench.rglob("*")) == before


def test_bad_inputs_are_one_line_and_write_nothing(evals, tmp_path):
    root, both, _ = evals
    out = tmp_path / "t"
    one_line_error(run_cli("results-table", tmp_path / "missing.txt", "--out", out), "does not exist")
    bad = tmp_path / "bad.txt"
    bad.write_text("abs-bvv-1 Total parameters:     1.3B\nabs-bvv-1 MMLU 18.08 percent\n", encoding="utf-8")
    one_line_error(run_cli("results-table", bad, "--out", out), "line 2 is not a result line")
    (tmp_path / "latin.txt").write_bytes("m MMLU: 1.00% ± 0.10%\n".encode("latin-1"))
    one_line_error(run_cli("results-table", tmp_path / "latin.txt", "--out", out), "not UTF-8")
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("a MMLU: 1.00% ± 0.10% (σ=0.20%)\nb SQUAD: 1.00% ± 0.10% (σ=0.20%)\n", encoding="utf-8")
    one_line_error(run_cli("results-table", mixed, "--out", out), "names model 'b'")
    folder = tmp_path / "folder"
    folder.mkdir()
    one_line_error(run_cli("results-table", folder, "--out", out), "not an eval directory")
    one_line_error(run_cli("results-table", both, both, "--out", out), "same model name 'tiny-model'")
    one_line_error(run_cli("results-table", both, "--out", both), "input of this command")  # never over an input
    _, _, ll = evals
    one_line_error(run_cli("results-table", both, "--out", ll, "--force"), "not a 'results-table'")
    assert (ll / "results.json").is_file()
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert (both / "results.json").is_file()
    res = run_cli("results-table", "--out", out)
    assert res.exit_code == 2 and "error:" in res.output


def test_results_png_marks_a_zero_score_and_draws_wilson_bounds():
    """A score of 0 is a bar entry (and gets a '0' drawn over the axis); a task not scored has none."""
    import numpy as np
    from PIL import Image

    from unicode_substrate.eval.report import bars, plot

    ll = {"acc": 0.0, "acc_low": 0.0, "acc_high": 56.15, "acc_norm": 33.3, "acc_norm_low": 6.15,
          "acc_norm_high": 79.2, "n": 3}
    results = {"settings": {"protocols": ["loglik"]},
               "results": {"arc-easy": {"n": 3, "loglik": ll}, "squad": {"n": 2}}}
    (label, acc), (_, norm) = bars(results)
    assert label == "loglik acc" and len(acc) == 1 and acc[0][1:] == (0.0, 0.0, 56.15)
    assert norm[0][2:] == pytest.approx((33.3 - 6.15, 79.2 - 33.3))  # the Wilson bounds, not a symmetric ±
    # the picture of a 0 holds the mark's ink; an invisible non-zero score (no mark) draws the same otherwise
    def ink(res):
        img = np.asarray(Image.open(io.BytesIO(plot(res))).convert("L"), dtype=float)
        return (img < 200).sum()

    tiny = json.loads(json.dumps(results))
    tiny["results"]["arc-easy"]["loglik"]["acc"] = 1e-9
    assert ink(results) > ink(tiny)


# ---- parameters as the author counts them ------------------------------------------------------

def test_a_frozen_runs_parameters_count_its_table_as_the_author_does(tmp_path):
    """abs-bvv-3 = 1.7B ≈ 2 × 131,072 × 4,096 + 3 × 12 × 4,096²: table and head, and 12 d² per block.
    A frozen run's total is the same sum, plus only its biases and LayerNorms; trainable leaves the table out."""
    from unicode_substrate.eval.results_txt import format_parameters
    from unicode_substrate.model.config import ModelConfig
    from unicode_substrate.model.gpt import GPT

    assert format_parameters(2 * 131_072 * 4_096 + 3 * 12 * 4_096 ** 2) == "1.7B"
    V, d, L = 1200, 32, 2
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=V, d_model=d, n_embed=d, n_layer=L, n_head=2, context=96, embedding="frozen"),
                table=torch.randn(V, d), backend="torch").eval()
    author = 2 * V * d + L * 12 * d * d
    small = L * (9 * d + 4 * d) + 2 * d  # biases of qkv, proj, fc, fc2 (3d + d + 4d + d); two LayerNorms (4 d); ln_f
    assert model.num_parameters() == author + small
    assert model.num_parameters(trainable_only=True) == model.num_parameters() - V * d

    lm = TinyLM("frozen-model")
    lm.model = model
    out = evaluate(tmp_path / "ev", "arc-easy", write_original(tmp_path / "bench"), lm=lm, protocol="loglik")
    rec = json.loads((out / "results.json").read_text())["model"]
    assert rec["parameters"] == author + small and rec["trainable_parameters"] == author + small - V * d
    assert (out / "results.txt").read_text().splitlines()[0] == \
        f"frozen-model Total parameters:     {format_parameters(author + small)}"
    res = run_cli("results-table", out, "--out", tmp_path / "t")
    assert res.exit_code == 0, res.output
    md = (tmp_path / "t" / "table.md").read_text(encoding="utf-8")
    assert (f"| frozen-model loglik acc | eval directory | {format_parameters(author + small)} | "
            f"{format_parameters(author + small - V * d)} |") in md


# ---- names, item counts, chance levels -------------------------------------------------------------

def _table(out: Path) -> tuple[list, dict]:
    rows = list(csv.reader(io.StringIO((out / "table.csv").read_text(encoding="utf-8"))))
    return rows[0], {r[0]: r for r in rows[1:]}


def test_label_names_a_column_and_item_counts_sit_beside_every_score(evals, tmp_path):
    root, both, ll = evals
    out = tmp_path / "t"
    res = run_cli("results-table", ll, "--label", f"mine={both}", "--out", out)
    assert res.exit_code == 0, res.output
    header, body = _table(out)
    assert "mine" in header and "mine loglik acc" in header and "tiny-model" not in header
    ours = json.loads((both / "results.json").read_text())["results"]
    c = header.index("mine")
    assert header[c:c + 4] == ["mine", "mine low", "mine high", "mine n"]
    assert body["ARC-c"][c + 3] == str(ours["arc-challenge"]["paper"]["n"])
    md = (out / "table.md").read_text(encoding="utf-8")
    n = ours["arc-challenge"]["paper"]["n"]
    assert f"(n={n})" in next(ln for ln in md.splitlines() if ln.startswith("| ARC-c |"))
    assert "items scored" in md
    # an eval's own label (eval --label) is its default name
    lab = evaluate(tmp_path / "lab", "arc-easy", root / "bench", lm=TinyLM(), protocol="loglik", label="seed-run")
    assert json.loads((lab / "results.json").read_text())["label"] == "seed-run"
    assert run_cli("results-table", lab, "--out", tmp_path / "t2").exit_code == 0
    assert "seed-run loglik acc" in _table(tmp_path / "t2")[0]
    one_line_error(run_cli("results-table", both, "--label", "two words=" + str(ll), "--out", tmp_path / "t3"),
                   "printable")
    one_line_error(run_cli("results-table", "--label", "x" + str(ll), "--out", tmp_path / "t3"), "NAME=PATH")


def test_default_names_do_not_collide_for_seeds_stages_and_two_evals_of_one_run(tmp_path):
    from unicode_substrate.eval.results_txt import model_name

    def name(run):
        return model_name({"model": {"run": run}})

    assert name("study/runs/frozen/seed-1") == "frozen/seed-1" and name("study/runs/trainable/seed-1") == "trainable/seed-1"
    assert name("grown/stages/2") == "grown/stage-2" and name("grown/final") == "grown/final"
    assert name("grown/seed-3/final") == "grown/seed-3/final" and name("runs/tiny") == "tiny"
    bench = write_original(tmp_path / "bench")
    a = evaluate(tmp_path / "ev-a", "arc-easy", bench, lm=TinyLM(), protocol="loglik")
    b = evaluate(tmp_path / "ev-b", "arc-easy", bench, lm=TinyLM(), protocol="loglik", limit=1)
    res = run_cli("results-table", a, b, "--out", tmp_path / "t")
    assert res.exit_code == 0, res.output
    header, body = _table(tmp_path / "t")
    assert "tiny-model@ev-a loglik acc" in header and "tiny-model@ev-b loglik acc" in header
    assert body["ARC-e"][header.index("tiny-model@ev-b loglik acc n")] == "1"


def test_a_user_tasks_chance_label_and_lines_come_from_its_task(tmp_path):
    """The task file's chance = 25.0 is shown; its results.txt line and table row are under its name."""
    import test_eval_taskfile as tf

    (tmp_path / "ARC-Easy-Dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tf.ARC_ROWS), encoding="utf-8")
    (tmp_path / "my.toml").write_text(tf.ARC_TOML, encoding="utf-8")
    out = evaluate(tmp_path / "ev", None, None, lm=TinyLM(), task_files=[tmp_path / "my.toml"], runs=2)
    txt = (out / "results.txt").read_text(encoding="utf-8")
    assert re.search(r"^tiny-model my-arc: \d+\.\d\d% ± ", txt, re.MULTILINE), txt
    assert run_cli("results-table", out, "--out", tmp_path / "t").exit_code == 0
    header, body = _table(tmp_path / "t")
    assert body["my-arc"][1] == "25" and body["my-arc"][header.index("tiny-model n")] == "4"
    assert "| my-arc | 25 |" in (tmp_path / "t" / "table.md").read_text(encoding="utf-8")


def test_every_built_in_task_has_its_label_from_its_task_record():
    from unicode_substrate.eval.results_txt import LABELS
    from unicode_substrate.eval.tasks import TASKS

    assert LABELS == {n: t.paper_name for n, t in TASKS.items() if t.paper_name}
    assert set(LABELS) == set(TASKS) and list(LABELS.values())[-1] == "BLEU"


# ---- malformed inputs: one line each, never inf or nan ---------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("m MMLU: 99999.00% ± 0.10% (σ=0.20%)", "above 100"),
    ("m MMLU: " + "9" * 400 + ".00% ± 0.10% (σ=0.20%)", "above 100"),
    ("m MMLU: 1.2.3% ± 0.10% (σ=0.20%)", "not a result line"),
    ("m Total parameters:     1.2.3B", "not a result line"),
])
def test_malformed_author_lines_are_one_line(tmp_path, line, message):
    f = tmp_path / "m.txt"
    f.write_text(line + "\n", encoding="utf-8")
    one_line_error(run_cli("results-table", f, "--out", tmp_path / "t"), message)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("text, message", [
    ("{broken", "not valid JSON"),
    ("[1, 2]", "needs a 'model' and a 'results'"),
    ('{"results": {}}', "needs a 'model' and a 'results'"),
    (None, "is not a score"),  # a string score
    ("huge", "is not a score"),
    ("count", "not a parameter count"),
])
def test_malformed_results_json_is_one_line(evals, tmp_path, text, message):
    import shutil

    _, both, _ = evals
    ev = tmp_path / "ev"
    shutil.copytree(both, ev)
    if text in (None, "huge", "count"):
        rec = json.loads((ev / "results.json").read_text())
        if text == "count":
            rec["model"]["parameters"] = "many"
        else:
            rec["results"]["arc-easy"]["paper"]["score"] = "12.5" if text is None else 1e400
        text = json.dumps(rec)
    (ev / "results.json").write_text(text, encoding="utf-8")
    one_line_error(run_cli("results-table", ev, "--out", tmp_path / "t"), message)
    assert not (tmp_path / "t").exists()


def test_a_bar_in_a_model_name_keeps_table_md_columns(tmp_path):
    f = tmp_path / "m.txt"
    f.write_text("a|b MMLU: 1.00% ± 0.10% (σ=0.20%)\n", encoding="utf-8")
    assert run_cli("results-table", f, "--out", tmp_path / "t").exit_code == 0
    md = (tmp_path / "t" / "table.md").read_text(encoding="utf-8")
    head = next(ln for ln in md.splitlines() if ln.startswith("| task |"))
    assert head == "| task | chance | a\\|b |"
    row = next(ln for ln in md.splitlines() if ln.startswith("| MMLU |"))
    assert len(re.split(r"(?<!\\)\|", row)) == len(re.split(r"(?<!\\)\|", head))


# ---- the author's pictures ---------------------------------------------------------------------------

def test_the_authors_heatmaps_from_released_files_and_our_evals(evals, tmp_path):
    from PIL import Image

    _, both, _ = evals
    author = _author_files()
    out = tmp_path / "t"
    res = run_cli("results-table", *author, both, "--out", out)
    assert res.exit_code == 0, res.output
    for name in ("mmlu_heatmap.png", "overview_heatmap.png", "table.png"):
        img = Image.open(out / name)
        assert img.format == "PNG" and img.size[0] > 300
    md = (out / "table.md").read_text(encoding="utf-8")
    assert "![mmlu_heatmap](mmlu_heatmap.png)" in md and "![overview_heatmap](overview_heatmap.png)" in md
    manifest = json.loads((out / "manifest.json").read_text())
    assert "mmlu_heatmap.png" in json.dumps(manifest)
    # the same inputs draw the same bytes
    assert run_cli("results-table", *author, both, "--out", tmp_path / "u").exit_code == 0
    assert (out / "mmlu_heatmap.png").read_bytes() == (tmp_path / "u" / "mmlu_heatmap.png").read_bytes()


def _many_subjects(tmp_path: Path, n: int) -> None:
    """results-table over ``n`` MMLU subjects: the pictures draw a capped part and table.md says so."""
    from unicode_substrate.eval import results_plots

    f = tmp_path / "m.txt"
    lines = [f"m MMLU [s{i:06d}]: 1.00% ± 0.10% (σ=0.20%)" for i in range(n)] + ["m MMLU: 1.00% ± 0.10% (σ=0.20%)"]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run_cli("results-table", f, "--groups", "--out", tmp_path / "t")
    assert res.exit_code == 0, res.output
    md = (tmp_path / "t" / "table.md").read_text(encoding="utf-8")
    assert f"first {results_plots.MAX_HEATMAP_ROWS} of {n} rows" in md
    assert f"first {results_plots.MAX_BAR_ROWS} of {n + 1} rows" in md
    assert f"| MMLU [s{n - 1:06d}] |" in md  # the table itself holds every row


def test_many_subjects_are_capped_in_the_pictures_and_said_so(tmp_path):
    _many_subjects(tmp_path, 1_000)


@pytest.mark.slow
def test_a_hundred_thousand_subjects_take_seconds_not_minutes(tmp_path):
    import time

    t0 = time.monotonic()
    _many_subjects(tmp_path, 100_000)
    assert time.monotonic() - t0 < 120  # 7+ minutes and rising memory before the pictures were capped


def test_eval_label_is_checked_before_any_work(evals, tmp_path):
    root, _, _ = evals
    for bad in ("two words", "tab\there", ""):
        one_line_error(run_cli("eval", "--hf-model", tmp_path / "nowhere", "--tasks", "arc-easy", "--data-dir",
                               root / "bench", "--label", bad, "--out", tmp_path / "ev"), "--label")
    assert not (tmp_path / "ev").exists()


def test_an_eval_of_an_unfinished_run_is_named_so_in_the_table(tmp_path):
    """eval records a run that is not finished (Run.unfinished); results-table names its column so."""
    bench = write_original(tmp_path / "bench")
    lm = TinyLM("cut")
    lm.description["unfinished"] = "unfinished at step 122 of 200"
    ev = evaluate(tmp_path / "ev", "arc-easy", bench, lm=lm, protocol="loglik")
    res = run_cli("results-table", ev, "--out", tmp_path / "table")
    assert res.exit_code == 0, res.output
    header = next(csv.reader(io.StringIO((tmp_path / "table" / "table.csv").read_text(encoding="utf-8"))))
    assert "cut (unfinished at step 122 of 200) loglik acc" in header
