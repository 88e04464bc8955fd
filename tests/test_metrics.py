"""A metric is one registered record: each family's readers pick up a new one with no other change."""

from __future__ import annotations

import pytest

from unicode_substrate import metrics
from unicode_substrate.metrics import FAMILIES, Metric, by_label, family, register


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry, holding every built-in metric, that a test may add to."""
    for name in FAMILIES:
        family(name)  # registered before the copy, so the real registry stays whole
    monkeypatch.setattr(metrics, "METRICS", dict(metrics.METRICS))


def test_the_built_in_metrics_by_family():
    assert [m.name for m in family("validation")] == ["val_loss", "val_bpb"]
    assert [m.name for m in family("loglik")] == ["acc", "acc_norm", "acc_bytes"]
    assert [m.name for m in family("paper")] == ["first-character", "contains", "bleu"]
    assert not any(m.higher_is_better for m in family("validation"))  # lower loss and bits per byte are better
    assert all(m.higher_is_better for m in family("loglik") + family("paper"))
    assert by_label("val bits/byte").name == "val_bpb" and by_label("mmlu paper") is None


def test_a_name_is_registered_once_and_a_family_must_exist(registry):
    acc = metrics.METRICS["acc"]
    assert register(acc) is acc  # the same record again (a module imported twice) is harmless
    with pytest.raises(ValueError, match="two metrics are named 'acc'"):
        register(Metric("acc", "loglik", "accuracy", True, 2, field="correct"))
    with pytest.raises(ValueError, match="family must be one of"):
        register(Metric("speed", "timing", "speed", True, 1))


def test_a_new_metric_of_each_family_reaches_its_readers(registry, tmp_path):
    from unicode_substrate.eval import loglik
    from unicode_substrate.eval.report import _columns
    from unicode_substrate.eval.tasks.taskfile import load_task_file
    from unicode_substrate.tokens import val_score

    register(Metric("val_nats", "validation", "val nats", False, 3, fn=lambda nats, predicted, n_bytes: nats))
    assert val_score(6.0, 3, 4) == pytest.approx({"val_loss": 2.0, "val_bpb": 6.0 / 0.6931471805599453 / 4, "val_nats": 6.0})

    register(Metric("acc_first", "loglik", "acc_first", True, 2, field="first_choice"))
    records = [{"correct": True, "first_choice": True}, {"correct": False, "first_choice": True}]
    summary = loglik.summarize(records)
    assert summary["acc"] == 50.0 and summary["acc_first"] == 100.0 and summary["acc_first_low"] > 0
    assert _columns(["loglik"])[-1] == "loglik acc_first"

    register(Metric("exact", "paper", "exact match", True, 2, fn=lambda text, gold: (text.strip(), float(text.strip() == gold))))
    (tmp_path / "qa.csv").write_text("q,a\n2+2?,4\n", encoding="utf-8")
    (tmp_path / "qa.toml").write_text('name = "qa"\nkind = "generative"\nfiles = ["qa.csv"]\n[fields]\nquestion = "q"\n'
                                      'answer = "a"\n[prompt]\ntemplate = "Q: {question}\\nA:"\nscorer = "exact"\n',
                                      encoding="utf-8")
    task = load_task_file(tmp_path / "qa.toml")
    item = task.reader((tmp_path / "qa.csv",), "validation")[0]
    assert task.metric == "exact match" and task.scorer(item, " 4 ") == ("4", 1.0) and task.scorer(item, "44")[1] == 0.0
