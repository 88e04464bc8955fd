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


def _bench(tmp_path, arc, csqa):
    """The items as ARC and CommonsenseQA files, and lm-eval task files reading them with the paper's prompt."""
    bench = tmp_path / "bench"
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
    return bench, tasks_dir


def _lm_eval(lm_eval, hf, tasks_dir, tasks, monkeypatch, tmp_path, model_args: str = "") -> dict:
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    return lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf},dtype=float32,device=cpu{model_args}",
                                   tasks=tasks, task_manager=TaskManager(include_path=str(tasks_dir)),
                                   log_samples=True, batch_size=1)


@pytest.mark.slow
def test_acc_and_acc_norm_equal_lm_evaluation_harness(tmp_path, monkeypatch):
    lm_eval = pytest.importorskip("lm_eval")

    from unicode_substrate.export import export

    run, _ = make_run(tmp_path)
    hf = export(run, tmp_path / "hf")
    arc, csqa = _items(12, 4, "1234", seed=0), _items(8, 5, "ABCDE", seed=1)
    bench, tasks_dir = _bench(tmp_path, arc, csqa)
    res = _lm_eval(lm_eval, hf, tasks_dir, ["sub_arc", "sub_csqa"], monkeypatch, tmp_path)

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


CONTEXT = 256


def _add_bos_template(hf) -> int:
    """Make the export's tokenizer Llama-style: its special token becomes ``<s>``, the BOS, and a
    template post-processor puts it first (as a Llama checkpoint's tokenizer.json does)."""
    path = hf / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8").replace('"</s>"', '"<s>"'))
    bos = spec["model"]["vocab"]["<s>"]
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [bos], "tokens": ["<s>"]}}}
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "<s>",
              "unk_token": "<unk>", "clean_up_tokenization_spaces": False, "model_max_length": CONTEXT}
    (hf / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    # rotary positions: the model reads any length; a context that holds the whole prompt keeps the BOS in view
    model_config = json.loads((hf / "config.json").read_text(encoding="utf-8"))
    assert model_config["model_type"] == "gpt_neox"
    model_config["max_position_embeddings"] = CONTEXT
    (hf / "config.json").write_text(json.dumps(model_config), encoding="utf-8")
    # a 3-step model barely attends to any one token; seeded noise on its weights lets the BOS show
    import torch
    from safetensors.torch import load_file, save_file

    gen = torch.Generator().manual_seed(0)
    weights = load_file(hf / "model.safetensors")
    save_file({k: v + torch.randn(v.shape, generator=gen) for k, v in weights.items()}, hf / "model.safetensors",
              metadata={"format": "pt"})
    return bos


@pytest.mark.slow
def test_bos_as_lm_evaluation_harness_adds_it(tmp_path, monkeypatch):
    """With a tokenizer that prepends ``<s>``, the default encodes as lm-eval's default (one BOS
    first), and ``--no-bos`` as lm-eval's ``add_bos_token=False``; the two differ."""
    lm_eval = pytest.importorskip("lm_eval")

    from unicode_substrate.eval.hf import HFModel
    from unicode_substrate.export import export

    run, _ = make_run(tmp_path)
    hf = export(run, tmp_path / "hf")
    bos = _add_bos_template(hf)
    assert HFModel(hf).encode_default("cat")[0] == bos
    arc = _items(12, 4, "1234", seed=2)
    bench, tasks_dir = _bench(tmp_path, arc, _items(2, 5, "ABCDE", seed=3))
    ours = {}
    for flag in ("", "--no-bos"):
        out = tmp_path / f"ev{flag}"
        r = run_cli("eval", "--hf-model", hf, "--tasks", "arc-easy", "--data-dir", bench, "--protocol", "loglik",
                    *([flag] if flag else []), "--out", out)
        assert r.exit_code == 0, r.output
        ours[flag] = {s["id"]: s["loglik"] for s in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}
        settings = json.loads((out / "results.json").read_text())["settings"]["loglik"]
        assert settings["bos"].startswith("tokenizer default" if not flag else "none")
    for flag, model_args in (("", ""), ("--no-bos", ",add_bos_token=False")):
        res = _lm_eval(lm_eval, hf, tasks_dir, ["sub_arc"], monkeypatch, tmp_path, model_args)
        for sample in res["samples"]["sub_arc"]:
            np.testing.assert_allclose(ours[flag][arc[sample["doc_id"]]["id"]], [x[0][0] for x in sample["resps"]],
                                       atol=1e-4, rtol=1e-5)
    gap = max(abs(a - b) for i in ours[""] for a, b in zip(ours[""][i], ours["--no-bos"][i]))
    assert gap > 1e-3  # the BOS matters: the test would not see a protocol that ignores it
