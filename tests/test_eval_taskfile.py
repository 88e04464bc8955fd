"""User task files (--task-file TASK.toml), and how paper-protocol prompts are encoded (BOS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.eval.models import LanguageModel
from unicode_substrate.eval.runner import evaluate
from unicode_substrate.eval.tasks.taskfile import load_task_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARC_ROWS = [
    {"id": "q1", "question": {"stem": "Which tool cuts paper?", "choices": [
        {"label": "A", "text": "spoon"}, {"label": "B", "text": "scissors"}, {"label": "C", "text": "cup"}]},
     "answerKey": "B"},
    {"id": "q2", "question": {"stem": "Water freezes into what?", "choices": [
        {"label": "1", "text": "steam"}, {"label": "2", "text": "ice"}, {"label": "3", "text": "sand"},
        {"label": "4", "text": "salt"}]}, "answerKey": "2"},
    {"id": "q3", "question": {"stem": "Plants need which gas?", "choices": [
        {"label": "A", "text": "carbon dioxide"}, {"label": "B", "text": "helium"}]}, "answerKey": "A"},
    {"id": "q4", "question": {"stem": "What do bees make?", "choices": [
        {"label": "A", "text": "milk"}, {"label": "B", "text": "silk"}, {"label": "C", "text": "honey"},
        {"label": "D", "text": "wax paper"}]}, "answerKey": "C"},
]

ARC_TOML = '''name = "my-arc"
kind = "multiple-choice"
files = ["ARC-Easy-Dev.jsonl"]

[fields]
id = "id"
question = "question.stem"
choices = "question.choices"
answer = "answerKey"

[prompt]
template = "Question: {question}\\nOptions:\\n{options}Answer:"
option = "{label}) {text}\\n"
labels = "native"
tokens = 2
scorer = "first-character"
protocols = ["paper", "loglik"]
chance = 25.0
'''


class CharModel(LanguageModel):
    """A fixed random character-level model: token id = code point mod 512, logits from a seeded
    table of the last two tokens; greedy generation whatever the sampling asked (so a score depends
    only on the prompts and continuations it is given)."""

    context, device, description = 4096, "cpu", {"kind": "char-model"}

    def __init__(self, bos_default: bool = False):
        import torch

        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(513, 513, generator=g)
        self.bos_default = bos_default

    def encode(self, text):
        return [ord(c) % 512 for c in text]

    def encode_default(self, text):
        return ([512] if self.bos_default else []) + self.encode(text)

    def bos_id(self):
        return 512

    def decode(self, ids):
        return "".join("<s>" if i == 512 else chr(i) for i in ids)

    def _logits(self, ids):
        return self.table[ids]

    def _generate(self, ids, n_new, temperature, top_k, generator):
        import torch

        for _ in range(n_new):
            nxt = self._logits(ids)[:, -1, :512].argmax(-1, keepdim=True)
            ids = torch.cat((ids, nxt), dim=1)
        return ids


def _write_arc(root: Path) -> Path:
    path = root / "arc-easy" / "ARC-Easy-Dev.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in ARC_ROWS), encoding="utf-8")
    return path


def test_a_task_file_describing_arc_gives_the_builtin_arc_easy_numbers(tmp_path):
    arc = _write_arc(tmp_path / "bench")
    toml = arc.parent / "my-arc.toml"
    toml.write_text(ARC_TOML, encoding="utf-8")
    lm = CharModel()
    common = dict(runs=1, temperature=0.0, lm=lm)
    builtin = evaluate(tmp_path / "builtin", "arc-easy", tmp_path / "bench", **common)
    mine = evaluate(tmp_path / "mine", None, None, task_files=[toml], **common)
    a = json.loads((builtin / "results.json").read_text())["results"]["arc-easy"]
    b = json.loads((mine / "results.json").read_text())["results"]["my-arc"]
    assert a["loglik"] and a["paper"]["runs"]
    for key in ("n", "paper", "loglik", "chance", "metric"):
        assert a[key] == b[key], key
    sa = [json.loads(ln) for ln in (builtin / "samples.jsonl").read_text().splitlines()]
    sb = [json.loads(ln) for ln in (mine / "samples.jsonl").read_text().splitlines()]
    drop = ("task",)
    key = lambda s: (s["protocol"], s["id"])  # noqa: E731
    assert sorted(({k: v for k, v in s.items() if k not in drop} for s in sa), key=key) == \
        sorted(({k: v for k, v in s.items() if k not in drop} for s in sb), key=key)
    # the same task file pointed elsewhere with --task-path, by the CLI's option parser
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(ARC_ROWS[0]) + "\n", encoding="utf-8")
    again = evaluate(tmp_path / "again", "my-arc", None, task_files=[toml], task_paths=[f"my-arc={other}"], **common)
    assert json.loads((again / "results.json").read_text())["results"]["my-arc"]["n"] == 1


def test_generative_csv_task_file(tmp_path):
    data = tmp_path / "capitals.csv"
    data.write_text('country,capital\nFrance,Paris\n"Japan\nthe island",Tokyo\n', encoding="utf-8", newline="")
    toml = tmp_path / "capitals.toml"
    toml.write_text('name = "capitals"\nkind = "generative"\nfiles = ["capitals.csv"]\n[fields]\nquestion = "country"\n'
                    'answer = "capital"\n[prompt]\ntemplate = "Q: capital of {question}?\\nA:"\ntokens = "answer"\n'
                    'scorer = "contains"\n', encoding="utf-8")
    task = load_task_file(toml)
    items = task.reader((data,), "validation")
    assert [(it.question, it.answer, it.id) for it in items] == [("France", "Paris", "capitals.csv:2"),
                                                                   ("Japan\nthe island", "Tokyo", "capitals.csv:3")]
    assert task.prompt(items[1]) == "Q: capital of Japan\nthe island?\nA:" and task.new_tokens(items[1]) == 5
    assert task.scorer(items[0], " paris, france") == ("PARIS, FRANCE", 1.0) and not task.has_loglik
    out = evaluate(tmp_path / "ev", None, None, task_files=[toml], runs=2, lm=CharModel())
    res = json.loads((out / "results.json").read_text())["results"]["capitals"]
    assert res["n"] == 2 and "loglik" not in res and res["metric"] == {"paper": "containment accuracy"}


@pytest.mark.parametrize("text,expected", [
    ('name = "x"\nkind = "multiple-choice"\ncolour = 1\n', "unknown key: colour (valid: "),
    ('name = "arc_easy"\n', "is a built-in task's"),
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\n[prompt]\ntemplate = "{question}"\n',
     "a multiple-choice task needs choices"),
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\nchoices = "c"\n[prompt]\ntemplate = "{nope}"\n',
     "holds {nope}; only the plain fields"),
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\nchoices = "c"\n[prompt]\ntemplate = "{question.__class__}"\n',
     "holds {question.__class__}"),  # Python internals: refused, not printed
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\nchoices = "c"\n[prompt]\ntemplate = "{question}{options}"\n'
     'option = "{label.upper} {text}"\n', "holds {label.upper}"),  # would print a memory address
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\nchoices = "c"\n[prompt]\ntemplate = "{question!r}"\n',
     "holds {question!r}"),
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\nchoices = "c"\n[prompt]\ntemplate = "{question"\n',
     "does not format"),
    ('name = "x"\n[fields]\nquestion = "q"\nanswer = "a"\nchoices = "c"\n[prompt]\ntemplate = "{question}"\n'
     'labels = "roman"\n', "labels must be one of native, letters, numbers"),
    ('name = "x"\nkind = "generative"\n[fields]\nquestion = "q"\nanswer = "a"\n[prompt]\ntemplate = "{question}"\n'
     'protocols = ["loglik"]\n', "protocols must be a list of paper and (multiple-choice only) loglik"),
    ('name = "x\n', "is not valid TOML"),
    ('name = "two\\nlines"\n', "must be a non-empty name"),  # never written into a report's lines
    ('name = "nul\\u0000"\n', "must be a non-empty name"),
])
def test_bad_task_files_are_one_line(tmp_path, text, expected):
    toml = tmp_path / "t.toml"
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(SubstrateError) as e:
        load_task_file(toml)
    assert expected in str(e.value) and "\n" not in str(e.value) and str(toml) in str(e.value)


def test_task_file_records_refused_naming_file_and_line(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"q": "x?", "c": ["a", "b"], "a": 0}) + "\n" + json.dumps({"q": "y?", "c": ["a", "b"], "a": 5})
                    + "\n", encoding="utf-8")
    toml = tmp_path / "t.toml"
    toml.write_text('name = "t"\nfiles = ["d.jsonl"]\n[fields]\nquestion = "q"\nchoices = "c"\nanswer = "a"\n'
                    '[prompt]\ntemplate = "{question}\\n{options}Answer:"\nlabels = "letters"\n', encoding="utf-8")
    res = CliRunner().invoke(main, ["eval", "--task-file", str(toml), "--list-files"])
    assert res.exit_code == 2 and res.output.startswith("error: ") and res.output.count("\n") == 1
    assert "d.jsonl line 2: answer 5 is not one of the labels A, B nor an index" in res.output


def test_paper_prompts_encode_as_the_tokenizer_does_by_default(tmp_path):
    bench = tmp_path / "bench"
    _write_arc(bench)
    for bos_default, bos, starts in ((True, None, True), (False, None, False), (True, False, False), (False, True, True)):
        lm = CharModel(bos_default)
        lm.bos = bos  # what --bos / --no-bos set
        out = evaluate(tmp_path / f"ev-{bos_default}-{bos}", "arc-easy", bench, runs=1, temperature=0.0, lm=lm)
        results = json.loads((out / "results.json").read_text())
        assert results["model"]["paper_prompt_bos"]["starts_with_bos"] is starts
        assert results["settings"]["paper"]["bos"] == ("tokenizer default (as tokenizer.encode in the author's script)"
                                                       if bos is None else bos)
        samples = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
        paper = [s for s in samples if s["protocol"] == "paper"]
        assert all(s["prompt_tokens"] == len(s["prompt"]) + starts for s in paper)


def test_hf_prompts_start_with_the_bos_its_tokenizer_adds():
    """A Llama-style tokenizer (a post-processor adding <s>): the paper prompt gets it by default,
    as ``tokenizer.encode(prompt)`` in the author's script; the log-likelihood encoding never does."""
    from tokenizers import Tokenizer, decoders, processors
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split
    from transformers import PreTrainedTokenizerFast

    from unicode_substrate.eval.hf import HFModel

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "a": 3, "b": 4}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    lm = HFModel.__new__(HFModel)  # the tokenizer side only; no weights needed
    lm.tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    assert lm.encode("ab") == [3, 4]
    assert lm.encode_prompt("ab") == [1, 3, 4] and lm.adds_bos()
    lm.bos = False
    assert lm.encode_prompt("ab") == [3, 4] and not lm.adds_bos()
    lm.bos = True
    assert lm.encode_prompt("ab") == [1, 3, 4]  # exactly one


def test_out_never_replaces_a_benchmark_input(tmp_path):
    bench = tmp_path / "bench"
    arc = _write_arc(bench)
    toml = arc.parent / "my-arc.toml"
    toml.write_text(ARC_TOML, encoding="utf-8")
    before = {p: p.read_bytes() for p in bench.rglob("*") if p.is_file()}
    for out, kw in ((bench, {"data_dir": bench}), (arc.parent, {"data_dir": None, "task_files": [toml]}),
                    (arc.parent, {"data_dir": None, "task_paths": [f"arc-easy={arc}"]})):
        with pytest.raises(SubstrateError, match="(is also|holds) an input of this command"):
            evaluate(out, None if "task_files" in kw else "arc-easy", lm=CharModel(), runs=1, force=True, **kw)
    assert {p: p.read_bytes() for p in bench.rglob("*") if p.is_file()} == before


def test_an_empty_generative_reference_is_refused_not_scored_100(tmp_path):
    """"" is in every generation: a row whose reference is empty would score 100 % for any output."""
    data = tmp_path / "capitals.csv"
    data.write_text("country,capital\nFrance,Paris\nJapan,  \n", encoding="utf-8", newline="")
    toml = tmp_path / "capitals.toml"
    toml.write_text('name = "capitals"\nkind = "generative"\nfiles = ["capitals.csv"]\n[fields]\nquestion = "country"\n'
                    'answer = "capital"\n[prompt]\ntemplate = "Q: {question}?\\nA:"\nscorer = "contains"\n',
                    encoding="utf-8")
    res = CliRunner().invoke(main, ["eval", "--task-file", str(toml), "--list-files"])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "capitals.csv line 3: answer is empty" in res.output


def test_a_task_path_for_a_task_not_evaluated_is_refused(tmp_path):
    """--task-path NAME=FILE for a task that is not evaluated used to be ignored (the task read from --data-dir)."""
    bench = tmp_path / "bench"
    _write_arc(bench)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(ARC_ROWS[0]) + "\n", encoding="utf-8")
    with pytest.raises(SubstrateError, match="the task paths name boolq, which is not among the tasks evaluated"):
        evaluate(tmp_path / "ev", "arc-easy", bench, task_paths=[f"boolq={other}"], lm=CharModel())
    assert not (tmp_path / "ev").exists()


def test_list_files_refuses_a_task_path_for_a_task_not_listed(tmp_path):
    """eval --list-files --tasks arc-easy --task-path boolq=FILE listed arc-easy and said nothing of boolq."""
    bench = tmp_path / "bench"
    arc = _write_arc(bench)
    res = CliRunner().invoke(main, ["eval", "--tasks", "arc-easy", "--data-dir", str(bench), "--task-path",
                                    f"boolq={arc}", "--list-files"])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "the task paths name boolq, which is not among the tasks evaluated (arc-easy)" in res.output
