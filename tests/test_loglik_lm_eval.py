"""substrate eval's log-likelihood protocol equals lm-evaluation-harness's on our Hugging Face export.

The test writes ARC-format and CommonsenseQA-format items, runs lm-eval offline on the export
with tasks that read the same files with the paper's prompt, and compares acc and acc_norm (and
every item's log-likelihoods) with ``substrate eval --hf-model EXPORT --protocol loglik``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from _cli_helpers import run_cli
from _eval_helpers import make_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ["cat", "mat", "the red house", "a dog", "ice", "sand", "good morning", "кошка", "дом", "утро", "no", "steam"]
PAPER_PROMPT = ("Question: {{question.stem}}\nOptions:\n{% for c in question.choices %}{{c.label}}) {{c.text}}\n"
                "{% endfor %}Answer:")


def _items(n: int, n_choices: int, labels: str, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        texts = [str(w) for w in rng.choice(WORDS, n_choices, replace=False)]
        gold = int(rng.integers(0, n_choices))
        rows.append({"id": f"x{i}", "question": {"stem": f"Which one is {texts[gold].split()[-1]} number {i}?",
                                                 "choices": [{"label": l, "text": t} for l, t in zip(labels, texts)]},
                     "answerKey": labels[gold], "gold": gold})
    return rows


def _task_yaml(name: str, data: str, choices: str) -> str:
    return (f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    validation: {json.dumps(data)}\n"
            "validation_split: validation\noutput_type: multiple_choice\n"
            f"doc_to_text: {json.dumps(PAPER_PROMPT)}\ndoc_to_choice: {json.dumps(choices)}\ndoc_to_target: gold\n"
            "metric_list:\n" + "".join(f"  - metric: {m}\n    aggregation: mean\n    higher_is_better: true\n"
                                       for m in ("acc", "acc_norm", "acc_bytes")))


@pytest.mark.slow
def test_acc_and_acc_norm_equal_lm_evaluation_harness(tmp_path, monkeypatch):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    from unicode_substrate.export import export

    run, _ = make_run(tmp_path)
    hf = export(run, tmp_path / "hf")
    bench = tmp_path / "bench"
    arc, csqa = _items(12, 4, "1234", seed=0), _items(8, 5, "ABCDE", seed=1)
    for folder, rows in (("arc-easy", arc), ("csqa", csqa)):
        (bench / folder).mkdir(parents=True)
        (bench / folder / "Dev.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                  encoding="utf-8")
    tasks_dir = tmp_path / "lm_eval_tasks"
    tasks_dir.mkdir()
    (tasks_dir / "sub_arc.yaml").write_text(_task_yaml("sub_arc", str(bench / "arc-easy" / "Dev.jsonl"),
                                                       "{{question.choices | map(attribute='text') | list}}"))
    (tasks_dir / "sub_csqa.yaml").write_text(_task_yaml("sub_csqa", str(bench / "csqa" / "Dev.jsonl"),
                                                        "{{question.choices | map(attribute='label') | list}}"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf},dtype=float32,device=cpu",
                                  tasks=["sub_arc", "sub_csqa"], task_manager=TaskManager(include_path=str(tasks_dir)),
                                  log_samples=True, batch_size=1)

    # ours: texts for ARC; the answer letters for CommonsenseQA, as lm-eval's stock task scores it
    for task, harness, choices in (("arc-easy", "sub_arc", "text"), ("csqa", "sub_csqa", "letters")):
        out = tmp_path / f"ev-{task}"
        r = run_cli("eval", "--hf-model", hf, "--tasks", task, "--data-dir", bench, "--protocol", "loglik",
                    "--loglik-choices", choices, "--out", out)
        assert r.exit_code == 0, r.output
        ours = json.loads((out / "results.json").read_text())["results"][task]["loglik"]
        theirs = res["results"][harness]
        for metric in ("acc", "acc_norm", "acc_bytes"):
            assert ours[metric] == pytest.approx(100 * theirs[f"{metric},none"], abs=1e-9), (task, metric)
        samples = {s["id"]: s for s in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}
        rows = arc if task == "arc-easy" else csqa
        for sample in res["samples"][harness]:
            mine = samples[rows[sample["doc_id"]]["id"]]
            np.testing.assert_allclose(mine["loglik"], [x[0][0] for x in sample["resps"]], atol=1e-4, rtol=1e-5)
            assert (mine["correct"], mine["correct_norm"], mine["correct_bytes"]) == \
                (sample["acc"] == 1.0, sample["acc_norm"] == 1.0, sample["acc_bytes"] == 1.0)
    # the items are not trivial: per character and per byte disagree somewhere, or acc and acc_norm do
    arc_res = res["results"]["sub_arc"]
    assert len({arc_res["acc,none"], arc_res["acc_norm,none"], arc_res["acc_bytes,none"]}) > 1 or \
        len({res["results"]["sub_csqa"][f"{m},none"] for m in ("acc", "acc_norm")}) > 1
