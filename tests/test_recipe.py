"""substrate prepare --recipe: release-format readers, instruction documents, shares, determinism, bad input."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from _cli_helpers import one_line_error, run_cli
from _train_helpers import make_char_tokenizer
from unicode_substrate.eval.prompts import prompt
from unicode_substrate.eval.tasks import Item
from unicode_substrate.tokens import TokenData

TEXTS = [f"plain text document number {i}: the cat sat on the mat and the dog ate the hat. " * (2 + i % 4)
         for i in range(120)]


# --- fixtures in the release formats, as their documentation and downloads lay them out ------
def write_squad(path: Path, n: int = 6) -> Path:
    """SQuAD v2 ``train-v2.0.json``: data[].paragraphs[].qas[], one unanswerable question per paragraph."""
    paragraphs = []
    for i in range(n):
        ctx = f"Paragraph {i} says the river Avon {i} flows west past the old mill."
        paragraphs.append({"qas": [
            {"question": f"Which way does the Avon {i} flow?", "id": f"sq{i}", "answers":
             [{"text": "west", "answer_start": ctx.index("west")}, {"text": "flows west", "answer_start": ctx.index("flows")}],
             "is_impossible": False},
            {"plausible_answers": [{"text": "mill", "answer_start": ctx.index("mill")}], "question": f"Who built mill {i}?",
             "id": f"sq{i}x", "answers": [], "is_impossible": True}], "context": ctx})
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Avon", "paragraphs": paragraphs}]}), encoding="utf-8")
    return path


def write_boolq(path: Path, n: int = 6) -> Path:
    rows = [{"question": f"is the sky {i} blue", "title": "Sky", "answer": i % 2 == 0,
             "passage": f"The sky {i} is blue on a clear day."} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _choice_rows(n: int, prefix: str, labels: str) -> list[dict]:
    return [{"answerKey": labels[i % len(labels)], "id": f"{prefix}{i}",
             "question": {"question_concept": "thing", "stem": f"Where is thing {i} kept?",
                          "choices": [{"label": lab, "text": f"place {lab.lower()} {i}"} for lab in labels]}}
            for i in range(n)]


def write_csqa(path: Path, n: int = 6) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in _choice_rows(n, "cs", "ABCDE")), encoding="utf-8")
    return path


def write_arc(path: Path, n: int = 6) -> Path:
    rows = [{"id": r["id"], "question": {"stem": r["question"]["stem"], "choices": r["question"]["choices"]},
             "answerKey": r["answerKey"]} for r in _choice_rows(n, "Mercury_", "ABCD")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_triviaqa(path: Path, n: int = 6) -> Path:
    data = [{"Answer": {"Aliases": [f"Exodus {i}"], "NormalizedAliases": [f"exodus {i}"], "NormalizedValue": f"exodus {i}",
                        "Type": "WikipediaEntity", "Value": f"Exodus {i}"},
             "EntityPages": [{"DocSource": "TagMe", "Filename": "Exodus.txt", "Title": "Exodus"}],
             "Question": f"Which musical number {i} opened in the US?", "QuestionId": f"tc_{i}",
             "QuestionSource": "http://www.example.org/"} for i in range(n)]
    path.write_text(json.dumps({"Data": data, "Domain": "Wikipedia", "Split": "train", "VerifiedEval": False,
                                "Version": 1.0}), encoding="utf-8")
    return path


def write_nq(path: Path, n: int = 6) -> Path:
    rows = [{"question": f"where did they film movie {i}", "answer": [f"Fernie {i}", f"Canada {i}"]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_hotpot(path: Path, n: int = 6) -> Path:
    rows = [{"supporting_facts": [["Cat Magazine", 0]], "level": "medium", "question": f"Which magazine {i} came first?",
             "context": [["Cat Magazine", [f"Cat Magazine {i} was first.", " It was a magazine."]],
                         ["Dog Weekly", ["Dog Weekly came later."]]],
             "answer": "Cat Magazine", "_id": f"5a7a{i}", "type": "comparison"} for i in range(n)]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


WRITERS = {"squad": ("train-v2.0.json", write_squad), "boolq": ("train.jsonl", write_boolq),
           "csqa": ("train_rand_split.jsonl", write_csqa), "arc": ("ARC-Easy-Train.jsonl", write_arc),
           "triviaqa": ("wikipedia-train.json", write_triviaqa), "nq-open": ("NQ-open.train.jsonl", write_nq),
           "hotpotqa": ("hotpot_train_v1.1.json", write_hotpot)}


def write_text_corpus(path: Path, texts=TEXTS) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    alphabet = "".join(TEXTS) + "Question:OptionsAnswerContext(True/False)ABCDEabcdefghijklmnopqrstuvwxyz0123456789?.,'\n "
    return make_char_tokenizer(root / "tok", alphabet + "QWERTYUIOPSGHJKLZXVNMC")


@pytest.fixture()
def sources(tmp_path):
    qa = tmp_path / "qa"
    qa.mkdir()
    paths = {fmt: writer(qa / name) for fmt, (name, writer) in WRITERS.items()}
    paths["text"] = write_text_corpus(tmp_path / "wiki.jsonl")
    return paths


def write_recipe(tmp_path: Path, body: str, name: str = "recipe.toml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def full_recipe(tmp_path: Path, sources: dict, **extra) -> Path:
    lines = [f"{k} = {v}" for k, v in {"seed": 0, "val_every": 5, **extra}.items()]
    lines += ["[[source]]", 'name = "wiki"', f'path = "{sources["text"].name}"', "share = 0.79", 'lang = "en"']
    for fmt in WRITERS:
        rel = sources[fmt].relative_to(tmp_path).as_posix()
        lines += ["[[source]]", f'name = "{fmt}"', f'path = "{rel}"', f'format = "{fmt}"', "share = 0.03"]
    return write_recipe(tmp_path, "\n".join(lines) + "\n")


def prepare(recipe, tok, out, *extra):
    return run_cli("prepare", "--recipe", recipe, "--tokenizer", tok, "--out", out, "--no-progress", *extra)


# --- instruction documents --------------------------------------------------------------------
def test_instruction_documents_are_the_eval_prompt_plus_the_answer(tmp_path, sources):
    from unicode_substrate.data.qa import qa_documents

    docs = {fmt: list(qa_documents([sources[fmt]], fmt)) for fmt in WRITERS}
    # Written out from the paper's templates (SPEC E), character for character, then checked against eval's prompt().
    assert docs["squad"][0] == ("Context: Paragraph 0 says the river Avon 0 flows west past the old mill.\n"
                                "Question: Which way does the Avon 0 flow?\nAnswer: west")
    assert len(docs["squad"]) == 6  # the unanswerable question of every paragraph is skipped
    assert docs["boolq"][1] == ("Context: The sky 1 is blue on a clear day.\nQuestion: is the sky 1 blue\n"
                                "Answer (True/False): False")
    assert docs["csqa"][2] == ("Question: Where is thing 2 kept?\nOptions:\nA) place a 2\nB) place b 2\nC) place c 2\n"
                               "D) place d 2\nE) place e 2\nAnswer: C")
    assert docs["arc"][1] == ("Question: Where is thing 1 kept?\nOptions:\nA) place a 1\nB) place b 1\nC) place c 1\n"
                              "D) place d 1\nAnswer: B")
    assert docs["triviaqa"][0] == "Question: Which musical number 0 opened in the US?\nAnswer: Exodus 0"
    assert docs["nq-open"][3] == "Question: where did they film movie 3\nAnswer: Fernie 3"
    assert docs["hotpotqa"][0] == ("Context: Cat Magazine: Cat Magazine 0 was first. It was a magazine.\n"
                                   "Dog Weekly: Dog Weekly came later.\nQuestion: Which magazine 0 came first?\n"
                                   "Answer: Cat Magazine")
    # The same strings from the eval code's prompt(): one source of truth.
    item = Item("csqa", "x", "Where is thing 2 kept?", "C", tuple((lab, f"place {lab.lower()} 2") for lab in "ABCDE"))
    assert docs["csqa"][2] == prompt(item) + " C"
    sq = Item("squad", "x", "Which way does the Avon 0 flow?", "west",
              context="Paragraph 0 says the river Avon 0 flows west past the old mill.")
    assert docs["squad"][0] == prompt(sq) + " west"
    assert prompt(sq).endswith(docs["triviaqa"][0].split("Question: ")[0] + "Question: Which way does the Avon 0 flow?\nAnswer:")


# --- the mix ------------------------------------------------------------------------------------
def test_every_format_builds_with_shares_within_one_percent_and_a_full_manifest(tmp_path, sources, tok):
    res = prepare(full_recipe(tmp_path, sources), tok, tmp_path / "data")
    assert res.exit_code == 0, res.output
    data = TokenData.load(tmp_path / "data")
    m = data.manifest
    assert [s["name"] for s in m["sources"]] == ["wiki", *WRITERS]
    total = m["splits"]["train"]["tokens"]
    assert total == len(data.train)
    for s in m["sources"]:
        assert abs(s["share"] - s["target_share"]) <= 0.01, s
        assert abs(s["train"]["tokens"] / total - s["target_share"]) <= 0.01, s
        assert s["files"] and all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in s["files"])
        assert s["documents"] > 0 and s["tokens"] > 0 and s["bytes"] > 0
    wiki = m["sources"][0]
    assert wiki["epochs"] == pytest.approx(1.0, abs=0.02)  # the text source limits the size: read once
    assert all(s["epochs"] > 1 for s in m["sources"][1:])  # the small QA sets are repeated to meet their shares
    assert sum(s["train"]["tokens"] for s in m["sources"]) == total
    assert sum(s["train"]["documents"] for s in m["sources"]) == m["splits"]["train"]["documents"]
    # Validation: the text source first, each source one contiguous run of whole documents.
    ranges = [s["val"]["documents"] for s in m["sources"]]
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert ranges[-1][1] == len(data.val_docs) == m["splits"]["val"]["documents"]
    assert wiki["val"]["documents"][1] - wiki["val"]["documents"][0] == len(TEXTS) // 5
    assert data.val_docs[ranges[0][1] - 1, 1] == wiki["val"]["utf8_bytes"]
    assert m["val_text"] == {"documents": ranges[0][1], "tokens": int(data.val_docs[ranges[0][1] - 1, 0]),
                             "utf8_bytes": wiki["val"]["utf8_bytes"]}


def test_documents_in_the_data_decode_to_the_sources(tmp_path, sources, tok):
    from unicode_substrate.tokenizer import Tokenizer

    recipe = write_recipe(tmp_path, f'val_every = 5\n[[source]]\nname = "wiki"\npath = "wiki.jsonl"\nshare = 0.9\n'
                                    f'[[source]]\nname = "arc"\npath = "qa/ARC-Easy-Train.jsonl"\nformat = "arc"\n')
    assert prepare(recipe, tok, tmp_path / "d").exit_code == 0
    data = TokenData.load(tmp_path / "d")
    t = Tokenizer.load(tok)
    sep = data.manifest["separator_id"]
    train = np.asarray(data.train)
    cuts = np.flatnonzero(train == sep)
    docs = [t.decode(d.tolist()) for d in np.split(train, cuts)]
    docs = [d.removeprefix("</s>") for d in docs]
    arc_docs = {d for d in docs if d.startswith("Question:")}
    from unicode_substrate.data.qa import qa_documents

    expected = list(qa_documents([sources["arc"]], "arc"))
    train_arc = {d for i, d in enumerate(expected) if i % 5 != 4}
    assert arc_docs == train_arc  # every training item of ARC, none of its validation items
    wiki_train = {d for i, d in enumerate(TEXTS) if i % 5 != 4}
    assert {d for d in docs if not d.startswith("Question:")} == wiki_train


def test_the_same_recipe_twice_gives_byte_identical_data(tmp_path, sources, tok):
    recipe = full_recipe(tmp_path, sources)
    for out in ("a", "b"):
        assert prepare(recipe, tok, tmp_path / out).exit_code == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["manifest.json", "train.bin", "val.bin", "val_docs.npy"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # Another seed interleaves differently, with the same shares.
    seeded = full_recipe(tmp_path, sources, seed=1)
    assert prepare(seeded, tok, tmp_path / "c").exit_code == 0
    assert (tmp_path / "c" / "train.bin").read_bytes() != (tmp_path / "a" / "train.bin").read_bytes()
    assert (tmp_path / "c" / "val.bin").read_bytes() == (tmp_path / "a" / "val.bin").read_bytes()


def test_tokens_target_repeats_short_sources_and_an_impossible_recipe_is_refused(tmp_path, sources, tok):
    body = ('val_every = 5\ntokens = {tokens}\n[[source]]\nname = "wiki"\npath = "wiki.jsonl"\nshare = 0.5\n'
            '[[source]]\nname = "nq"\npath = "qa/NQ-open.train.jsonl"\nformat = "nq-open"\nmax_epochs = {epochs}\n')
    ok = write_recipe(tmp_path, body.format(tokens=20000, epochs=1000), "ok.toml")
    assert prepare(ok, tok, tmp_path / "ok").exit_code == 0
    m = TokenData.load(tmp_path / "ok").manifest
    nq = m["sources"][1]
    assert nq["epochs"] > 10 and nq["epochs_full"] == int(nq["epochs"])
    assert abs(m["splits"]["train"]["tokens"] - 20000) / 20000 < 0.01
    bad = write_recipe(tmp_path, body.format(tokens=20000, epochs=3), "bad.toml")
    line = one_line_error(prepare(bad, tok, tmp_path / "bad"), "source 'nq'", "max_epochs 3", "short by")
    assert "epochs" in line and not (tmp_path / "bad").exists()


def test_a_mix_larger_than_the_free_disk_is_refused_before_any_work(tmp_path, sources, tok):
    """tokens = 2**63 - 1 would start writing an exabyte train.bin: the planned size meets the free disk first."""
    huge = write_recipe(tmp_path, 'tokens = 9223372036854775807\n[[source]]\nname = "wiki"\npath = "wiki.jsonl"\n',
                        "huge.toml")
    one_line_error(prepare(huge, tok, tmp_path / "huge"), "GiB for train.bin alone", "GiB free")
    assert not (tmp_path / "huge").exists() and not any(p.name.startswith(".huge") for p in tmp_path.iterdir())


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, sources, tok):
    res = prepare(full_recipe(tmp_path, sources), tok, tmp_path / "data", "--dry-run")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["source", "format", "documents"]
    assert [ln.split()[0] for ln in lines[1:9]] == ["wiki", *WRITERS]
    assert lines[-1].startswith("training tokens: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa", "recipe.toml", "wiki.jsonl"]


def test_compressed_inputs_read_the_same_as_plain_ones(tmp_path, sources):
    import zstandard

    from unicode_substrate.corpus import iter_documents
    from unicode_substrate.data.qa import qa_documents

    comp = {".gz": gzip.compress, ".bz2": bz2.compress, ".zst": zstandard.ZstdCompressor().compress}
    plain_text = list(iter_documents(sources["text"]))
    for suffix, f in comp.items():
        z = tmp_path / f"wiki.jsonl{suffix}"
        z.write_bytes(f(sources["text"].read_bytes()))
        assert list(iter_documents(z)) == plain_text, suffix
        for fmt in ("squad", "triviaqa", "boolq"):
            src = sources[fmt]
            zq = src.with_name(src.name + suffix)
            zq.write_bytes(f(src.read_bytes()))
            assert list(qa_documents([zq], fmt)) == list(qa_documents([src], fmt)), (fmt, suffix)
    txt = tmp_path / "one.txt"
    txt.write_text("a whole file is one document\n", encoding="utf-8")
    (tmp_path / "one.txt.gz").write_bytes(gzip.compress(txt.read_bytes()))
    assert list(iter_documents(tmp_path / "one.txt.gz")) == list(iter_documents(txt))


def test_a_folder_and_a_glob_name_the_same_files(tmp_path):
    from unicode_substrate.corpus import corpus_files

    (tmp_path / "c" / "en").mkdir(parents=True)
    for i in range(3):
        write_text_corpus(tmp_path / "c" / "en" / f"part{i}.jsonl", TEXTS[i:i + 1])
    (tmp_path / "c" / "en" / "notes.md").write_text("not a corpus file", encoding="utf-8")
    by_folder = [f for f, _ in corpus_files(tmp_path / "c")]
    by_glob = [f for f, _ in corpus_files(str(tmp_path / "c" / "*" / "part*.jsonl"))]
    assert by_folder == by_glob == [tmp_path / "c" / "en" / f"part{i}.jsonl" for i in range(3)]


def test_parquet_text_is_read_in_batches(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from unicode_substrate.corpus import iter_documents

    texts = [f"row {i}" for i in range(3000)]
    pq.write_table(pa.table({"text": texts}), tmp_path / "t.parquet", row_group_size=700)
    assert [t for _, t in iter_documents(tmp_path / "t.parquet")] == texts


# --- bad input: one line, nothing written -----------------------------------------------------
def _nothing_written(tmp_path: Path, before: set[str]) -> None:
    assert {p.name for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("body, fragments", [
    ('[[source]]\nname = "x"\npath = "wiki.jsonl"\nformat = "mystery"\n', ["unknown format 'mystery'"]),
    ('[[source]]\nname = "x"\npath = "nowhere/corpus"\n', ["source 'x'", "nowhere", "does not exist"]),
    ('[[source]]\nname = "x"\npath = "wiki.jsonl"\nshare = 0.7\n[[source]]\nname = "y"\npath = "wiki.jsonl"\nshare = 0.4\n',
     ["shares sum to 1.1", "above 1 by 0.1"]),
    ('[[source]]\nname = "x"\npath = "wiki.jsonl"\nsplit = 2\n', ["unknown key: split (valid: "]),
    ('[[source]]\nname = "x"\npath = "empty.jsonl"\n', ["source 'x'", "no documents"]),
    ('[[source]]\nname = "x"\npath = "qa/bad-train.json"\nformat = "triviaqa"\n',
     ["bad-train.json", "Data[1]", "Answer.Value"]),
    ('[[source]]\nname = "x"\npath = "qa/broken.jsonl"\nformat = "boolq"\n', ["broken.jsonl", "line 2", "not valid JSON"]),
])
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, sources, tok, body, fragments):
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    bad = json.loads(write_triviaqa(tmp_path / "qa" / "bad-train.json").read_text())
    del bad["Data"][1]["Answer"]["Value"]
    (tmp_path / "qa" / "bad-train.json").write_text(json.dumps(bad), encoding="utf-8")
    (tmp_path / "qa" / "broken.jsonl").write_text('{"question": "q", "passage": "p", "answer": true}\n{"question": \n',
                                                  encoding="utf-8")
    recipe = write_recipe(tmp_path, body)
    before = {p.name for p in tmp_path.iterdir()}
    one_line_error(prepare(recipe, tok, tmp_path / "out"), *fragments)
    _nothing_written(tmp_path, before)


def test_recipe_and_corpus_options_do_not_mix(tmp_path, sources, tok):
    recipe = full_recipe(tmp_path, sources)
    one_line_error(run_cli("prepare", "--recipe", recipe, "--corpus", sources["text"], "--tokenizer", tok,
                           "--out", tmp_path / "o"), "--recipe", "--corpus")
    one_line_error(run_cli("prepare", "--corpus", sources["text"], "--tokenizer", tok, "--out", tmp_path / "o",
                           "--dry-run"), "--dry-run", "--recipe")


# --- the recipes in the repository ------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def test_paper_mix_names_every_format_and_its_shares_sum_to_one():
    from unicode_substrate.data.qa import FORMATS
    from unicode_substrate.data.recipe import TEXT_FORMAT, load_recipe

    r = load_recipe(REPO / "mixes" / "paper-mix.toml")
    assert {s.format for s in r.sources} == {TEXT_FORMAT, *FORMATS}
    assert sum(s.share for s in r.sources) == pytest.approx(1.0)
    qa = sum(s.share for s in r.sources if not s.is_text)
    assert qa == pytest.approx(0.10)  # about 10 % instruction-formatted, as the papers say
    assert r.tokens == 9_000_000_000


@pytest.mark.slow
def test_demo_mix_builds_from_the_builtin_corpus_and_demo_qa(tmp_path):
    from unicode_substrate.corpus import builtin_documents
    from unicode_substrate.data.qa import qa_documents

    (tmp_path / "mixes").mkdir()
    (tmp_path / "mixes" / "demo-mix.toml").write_bytes((REPO / "mixes" / "demo-mix.toml").read_bytes())
    res = run_cli("demo-qa", "--out", tmp_path / "artifacts" / "demo-qa")
    assert res.exit_code == 0, res.output
    squad = list(qa_documents([tmp_path / "artifacts" / "demo-qa" / "train-v2.0.json"], "squad"))
    boolq = list(qa_documents([tmp_path / "artifacts" / "demo-qa" / "train.jsonl"], "boolq"))
    assert len(squad) == len(boolq) > 50
    assert squad[0].startswith("Context: ") and boolq[0].split("Answer (True/False): ")[1] in ("True", "False")
    tok = make_char_tokenizer(tmp_path / "tok", "".join(builtin_documents()[:50]) + "".join(squad[:20]))
    res = prepare(tmp_path / "mixes" / "demo-mix.toml", tok, tmp_path / "artifacts" / "data")
    assert res.exit_code == 0, res.output
    m = TokenData.load(tmp_path / "artifacts" / "data").manifest
    assert [s["name"] for s in m["sources"]] == ["stdlib-docs", "demo-squad", "demo-boolq"]
    assert all(abs(s["share"] - s["target_share"]) <= 0.01 for s in m["sources"])


def _whole_file_checksum(data: bytes) -> str:
    """The fast checksum's definition computed on the whole file at once (what it gave when it mapped the file)."""
    size = len(data)
    data += b"\0" * (-len(data) % 4096)
    words = np.frombuffer(data, dtype="<u8")
    with np.errstate(over="ignore"):
        blocks = words.reshape(-1, 512).sum(axis=1, dtype=np.uint64) if len(words) else np.zeros(0, np.uint64)
        s1 = int(blocks.sum(dtype=np.uint64))
        s2 = int((blocks * np.arange(1, len(blocks) + 1, dtype=np.uint64)).sum(dtype=np.uint64))
    return f"{size:x}-{s1:016x}{s2:016x}"


def test_the_manifest_checksum_reads_in_chunks_and_gives_the_whole_file_value(tmp_path, monkeypatch):
    # Reading in chunks keeps prepare's peak memory flat; the value must not change for files already written.
    from unicode_substrate import artifacts

    monkeypatch.setattr(artifacts, "_CHECKSUM_CHUNK", 2 * 4096)  # many chunks on small files
    rng = np.random.default_rng(0)
    for size in (0, 1, 4095, 4096, 8192, 8193, 3 * 8192 + 17, 100_000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        (tmp_path / "f").write_bytes(data)
        assert artifacts.fast_checksum_file(tmp_path / "f") == _whole_file_checksum(data), size
