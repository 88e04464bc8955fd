"""Faults an adversarial user or a bad day brings, end to end through the CLI.

Each family: --force never destroys an input or a foreign folder; one writer per output; full
disk and read-only destinations; resume with changed options; a table of another method; a
corrupt file; unreachable grams; bad ids; bad config values; SIGKILL at random points. Every
case must end in one ``error: ...`` line with exit 2 (nothing half-written) or in correct output.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _cli_helpers import one_line_error
from _cli_helpers import run_cli as cli
from _train_helpers import TINY_MODEL, make_char_tokenizer, make_data, make_table
from unicode_substrate import artifacts
from unicode_substrate.artifacts import output_lock, verify_manifest
from unicode_substrate.errors import SubstrateError

TEXT = "the quick brown fox jumps over the lazy dog; then the other thing happened again and again.\n"
SUBSTRATE = str(Path(sys.executable).parent / "substrate")


def snapshot(d: Path) -> dict:
    """Every file under ``d`` with its bytes: an input must come out of a refused command unchanged."""
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name or p.name.endswith(".lock"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    corpus = root / "corpus"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"doc{i:02d}.txt").write_text(TEXT * (3 + i), encoding="utf-8")
    tok = make_char_tokenizer(root / "tok", TEXT)
    assert cli("ngrams", "--corpus", corpus, "--out", root / "ngrams", "--max-n", "3", "--top-k", "20").exit_code == 0
    return {"root": root, "corpus": corpus, "tok": tok, "ngrams": root / "ngrams"}


# ---- 1. --force never deletes an input, a folder holding one, or a foreign folder -------------------------
def test_force_refuses_to_replace_an_input_of_the_same_command(world, tmp_path):
    corpus, tok, ngrams = world["corpus"], world["tok"], world["ngrams"]
    before = {d: snapshot(d) for d in (corpus, tok, ngrams)}
    cases = [
        (("prepare", "--tokenizer", tok, "--corpus", corpus, "--out", corpus, "--force", "--val-every", "3"), "input"),
        (("prepare", "--tokenizer", tok, "--corpus", corpus, "--out", tok, "--force", "--val-every", "3"), "input"),
        (("render", "--tokenizer", tok, "--out", tok, "--force", "--method", "bit", "--dim", "16"), "input"),
        (("build-tokenizer", "--ngrams", ngrams, "--out", ngrams, "--force"), "input"),
        (("build-tokenizer", "--from-tokenizer", tok, "--out", tok, "--force"), "input"),
        (("ngrams", "--corpus", corpus, "--out", corpus, "--force"), "input"),
        # a folder that holds an input
        (("prepare", "--tokenizer", tok, "--corpus", corpus / "doc00.txt", "--out", corpus, "--force"), "holds an input"),
    ]
    for args, fragment in cases:
        one_line_error(cli(*args), fragment)
    assert {d: snapshot(d) for d in (corpus, tok, ngrams)} == before


def test_force_replaces_only_an_artifact_of_the_same_kind(world, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work", encoding="utf-8")
    table = make_table(tmp_path / "table")
    tables_before, foreign_before = snapshot(table), snapshot(foreign)
    one_line_error(cli("ngrams", "--corpus", world["corpus"], "--out", foreign, "--force"), "not a unicode-substrate artifact")
    one_line_error(cli("ngrams", "--corpus", world["corpus"], "--out", table, "--force"), "holds a 'table' artifact")
    one_line_error(cli("prepare", "--tokenizer", world["tok"], "--corpus", world["corpus"], "--out", table, "--force"), "'table'")
    one_line_error(cli("build-tokenizer", "--ngrams", world["ngrams"], "--out", foreign, "--force"), "not a unicode-substrate")
    # a run directory holds run.json, not a manifest: train --force refuses a data folder as its output
    data = make_data(tmp_path / "data")
    one_line_error(cli("train", "--data", data, "--table", table, "--out", data, "--force", "--steps", "1", "--device", "cpu",
                       *[f"--set={k}={v}" for k, v in TINY_MODEL.items()]), "input")
    assert snapshot(table) == tables_before and snapshot(foreign) == foreign_before
    # the same kind is replaced, as --force promises
    out = tmp_path / "ng"
    assert cli("ngrams", "--corpus", world["corpus"], "--out", out).exit_code == 0
    res = cli("ngrams", "--corpus", world["corpus"], "--out", out, "--force", "--max-n", "2")
    assert res.exit_code == 0, res.output
    assert verify_manifest(out, kind="ngrams")["sizes"] == [2] and leftovers(tmp_path) == []


def test_the_one_rule_of_a_resumable_folder(tmp_path):
    """check_resumable decides for train, compare, grow and study alike: start, resume, replace or refuse."""
    from unicode_substrate.artifacts import PACKAGE, check_resumable

    def rule(out, force=False, resume=False, **kw):
        return check_resumable(out, "growth", "growth", force=force, resume=resume, **kw)

    absent, empty, ours, foreign, torn = (tmp_path / n for n in ("absent", "empty", "ours", "foreign", "torn"))
    empty.mkdir()
    for d, text in ((ours, json.dumps({"kind": "growth", "package": PACKAGE})), (torn, "{not json")):
        d.mkdir()
        (d / "grow.json").write_text(text)
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    assert rule(absent) is False and rule(empty) is False and rule(empty, force=True) is False  # a fresh start
    assert rule(ours, resume=True) is True and rule(ours, force=True) is False  # resumed, or started over
    with pytest.raises(SubstrateError, match="already exists and holds a growth") as e:
        rule(ours)
    assert e.value.param == ("resume", "force")  # the CLI names the two options
    for force, resume in ((False, False), (True, False), (False, True)):
        with pytest.raises(SubstrateError, match="thesis|holds no growth|not a growth"):
            rule(foreign, force=force, resume=resume)
        with pytest.raises(SubstrateError, match="grow.json is not valid JSON"):
            rule(torn, force=force, resume=resume)
    for d in (absent, empty):
        with pytest.raises(SubstrateError, match="holds no growth; nothing to resume"):
            rule(d, resume=True)
    with pytest.raises(SubstrateError, match="also an input"):
        rule(ours, force=True, inputs=[ours])
    assert rule(foreign, force=True, ours=lambda o: True) is False  # a kind without a record file says what is its own
    assert (foreign / "thesis.tex").read_text() == "years of work"


# ---- 2. one writer per output --------------------------------------------------------------------------
def test_a_held_lock_refuses_a_second_writer_and_a_dead_ones_lock_is_taken_over(world, tmp_path):
    out = tmp_path / "ng"
    with output_lock(out):  # this process is writing out
        one_line_error(cli("ngrams", "--corpus", world["corpus"], "--out", out), "is writing")
    assert not out.exists()
    # a lock and a half-written folder left by a killed process (a pid that does not exist)
    dead = _dead_pid()
    (tmp_path / ".ng.lock").write_text(f"{dead}\n")
    (tmp_path / f".ng.tmp-{dead}-abc").mkdir()
    (tmp_path / f".ng.tmp-{dead}-abc" / "ngrams.txt").write_text("half")
    res = cli("ngrams", "--corpus", world["corpus"], "--out", out)
    assert res.exit_code == 0, res.output
    verify_manifest(out, kind="ngrams")
    assert leftovers(tmp_path) == []


def test_killed_between_the_two_renames_brings_the_old_artifact_back(world, tmp_path):
    out = tmp_path / "ng"
    assert cli("ngrams", "--corpus", world["corpus"], "--out", out).exit_code == 0
    dead = _dead_pid()
    os.rename(out, tmp_path / f".ng.old-{dead}")  # the old one moved aside, the new one never arrived
    res = cli("ngrams", "--corpus", world["corpus"], "--out", out)
    one_line_error(res, "already exists")  # the old artifact is back, so no silent replacement either
    verify_manifest(out, kind="ngrams")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.slow
def test_concurrent_writers_of_one_output_exactly_one_wins(world, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    (big / "a.txt").write_text(TEXT * 4000, encoding="utf-8")  # mining takes long enough to overlap
    for trial in range(3):
        out = tmp_path / f"out{trial}"
        cmd = [SUBSTRATE, "ngrams", "--corpus", str(big), "--out", str(out), "--max-n", "4"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        codes = sorted(rc for rc, _ in results)
        assert codes == [0, 2], results
        err = next(e for rc, e in results if rc == 2)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
        verify_manifest(out, kind="ngrams")
        assert leftovers(tmp_path) == []


# ---- full disk, read-only destination, bad output paths ------------------------------------------------
def _writing_commands(world, out: Path, tmp_path: Path) -> list[tuple]:
    table_pt = tmp_path / "rows.pt"
    if not table_pt.exists():
        import torch

        from unicode_substrate.tokenizer import Tokenizer

        torch.save(torch.randn(Tokenizer.load(world["tok"]).vocab_size, 8), table_pt)
    return [
        ("ngrams", "--corpus", world["corpus"], "--out", out),
        ("build-tokenizer", "--ngrams", world["ngrams"], "--out", out),
        ("render", "--tokenizer", world["tok"], "--out", out, "--method", "bit", "--dim", "16", "--no-progress"),
        ("prepare", "--tokenizer", world["tok"], "--corpus", world["corpus"], "--out", out, "--val-every", "3", "--no-progress"),
        ("import-table", table_pt, "--tokenizer", world["tok"], "--out", out),
    ]


def test_full_disk_is_one_line_and_leaves_nothing_behind(world, tmp_path, monkeypatch):
    real = artifacts.sha256_file

    def full(path, *a, **k):  # the manifest is hashed last: the disk fills up after every data file was written
        if ".tmp-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(artifacts, "sha256_file", full)
    for k, args in enumerate(_writing_commands(world, tmp_path / "out", tmp_path)):
        one_line_error(cli(*args), "no space left on the device")
        assert not (tmp_path / "out").exists() and leftovers(tmp_path) == [], args


def test_full_disk_on_a_real_tiny_filesystem(world, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tiny tmpfs here (needs root and a mount namespace)")
    try:
        (mnt / "big").mkdir()
        (mnt / "big" / "a.txt").write_text(TEXT * 620)  # all but about 8 KiB of the 64 KiB
        res = cli("prepare", "--tokenizer", world["tok"], "--corpus", world["corpus"], "--out", mnt / "data",
                  "--val-every", "3", "--no-progress")
        one_line_error(res, "no space left")
        assert not (mnt / "data").exists() and leftovers(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_read_only_destination_is_one_line(world, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes through 0555: simulate what the file system would answer
        def refuse(*a, **k):
            raise OSError(errno.EROFS, "Read-only file system", str(ro))

        monkeypatch.setattr(artifacts.tempfile, "mkdtemp", refuse)
    try:
        for args in _writing_commands(world, ro / "out", tmp_path)[:4]:
            res = cli(*args)
            one_line_error(res)
            assert "read-only" in res.output or "permission denied" in res.output, res.output
            assert not (ro / "out").exists()
    finally:
        ro.chmod(0o755)


def test_out_under_a_file_and_non_utf8_output_paths(world, tmp_path):
    (tmp_path / "a").write_text("a file")
    for args in _writing_commands(world, tmp_path / "a" / "b", tmp_path)[:4]:
        one_line_error(cli(*args), "not a directory")
    bad = tmp_path / os.fsdecode(b"caf\xe9-table")
    for args in _writing_commands(world, bad, tmp_path)[:4]:
        one_line_error(cli(*args), "not valid UTF-8")
    assert (tmp_path / "a").read_text() == "a file"


# ---- bad inputs that used to end in tracebacks or silently wrong output ---------------------------------
def test_import_table_refuses_nan_and_inf_with_the_right_message(world, tmp_path):
    import torch

    from unicode_substrate.tokenizer import Tokenizer

    v = Tokenizer.load(world["tok"]).vocab_size
    for name, fill in (("one-nan", None), ("all-nan", float("nan")), ("inf", float("inf"))):
        w = torch.randn(v, 8) if fill is None else torch.full((v, 8), fill)
        if fill is None:
            w[3, 2] = float("nan")
        torch.save(w, tmp_path / f"{name}.pt")
        line = one_line_error(cli("import-table", tmp_path / f"{name}.pt", "--tokenizer", world["tok"], "--out", tmp_path / name),
                              "NaN or infinite")
        assert "collision" not in line and not (tmp_path / name).exists()


def test_ngram_files_with_bad_grams_deep_nesting_or_huge_size(world, tmp_path):
    def stats(*grams):
        return [{"lang": "en", "language_name": "English", "top_ngrams": {2: [(g, 1) for g in grams]}}]

    cases = {
        "surrogate.json": (json.dumps(stats("a\ud800")), "lone surrogate"),
        "surrogate.txt": (repr(stats("\ud800b")), "lone surrogate"),
        "astral.txt": (repr(stats("a\U0001F600")), "U+1F600"),
        "private.txt": (repr(stats("\ue123b")), "U+E123"),
        "deep.json": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "deep.txt": ("[" * 100_000 + "]" * 100_000, "deep.txt"),
    }
    for name, (text, fragment) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        one_line_error(cli("build-tokenizer", "--ngrams", tmp_path / name, "--out", tmp_path / "tok"), fragment)
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.truncate(40 << 20)  # sparse: refused by size before a byte is read
    t0 = time.perf_counter()
    one_line_error(cli("build-tokenizer", "--ngrams", huge, "--out", tmp_path / "tok"), "MiB")
    assert time.perf_counter() - t0 < 5 and not (tmp_path / "tok").exists()


def test_an_unreachable_gram_is_refused_wherever_it_comes_from(tmp_path):
    from unicode_substrate.tokenizer.layout import assemble, get_layout
    from unicode_substrate.tokenizer.ngrams import mine

    with pytest.raises(SubstrateError, match="no id"):
        assemble(get_layout("lossless"), {"ab", "x\U00010330"})
    # mining never proposes one: in a CJK document every non-space character is counted
    stats = mine([("zh", "中国😀中国\ue000中国")], sizes=(2,), top_k=10)
    grams = [g for e in stats for pairs in e["top_ngrams"].values() for g, _ in pairs]
    assert "中国" in grams and all(ord(c) < 0xD800 or 0xF900 <= ord(c) <= 0xFFFE for g in grams for c in g)


def test_deeply_nested_corpus_line_is_one_line(world, tmp_path):
    bad = tmp_path / "deep.jsonl"
    bad.write_text('{"text": "fine"}\n' + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    one_line_error(cli("prepare", "--tokenizer", world["tok"], "--corpus", bad, "--out", tmp_path / "d"), "deep.jsonl:2", "nested")
    one_line_error(cli("ngrams", "--corpus", bad, "--out", tmp_path / "n"), "nested")


def test_from_tokenizer_with_duplicate_ids_is_refused(world, tmp_path):
    obj = json.loads((world["tok"] / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = obj["model"]["vocab"]
    first, second = list(vocab)[2:4]
    vocab[second] = vocab[first]
    (tmp_path / "dup.json").write_text(json.dumps(obj), encoding="utf-8")
    one_line_error(cli("build-tokenizer", "--from-tokenizer", tmp_path / "dup.json", "--out", tmp_path / "t"), "share id")
    obj["model"]["vocab"] = {k: v for k, v in vocab.items() if k != second}
    obj["added_tokens"] = [{"id": vocab[first], "content": "<other>", "special": True, "single_word": False,
                           "lstrip": False, "rstrip": False, "normalized": False}]
    (tmp_path / "dup2.json").write_text(json.dumps(obj), encoding="utf-8")
    one_line_error(cli("build-tokenizer", "--from-tokenizer", tmp_path / "dup2.json", "--out", tmp_path / "t"), "share id")
    assert not (tmp_path / "t").exists()


def test_decode_refuses_non_integer_ids(world):
    import torch

    from unicode_substrate.tokenizer import Tokenizer

    tok = Tokenizer.load(world["tok"])
    ids = tok.encode("the fox")
    assert tok.decode(ids) == tok.decode(np.asarray(ids)) == tok.decode(torch.tensor(ids)) == "the fox"
    for bad in ([104.0, 105.7], np.asarray(ids, dtype=float), np.asarray([ids, ids]), "hi", torch.tensor([1.5]),
                [[1, 2]], [True], 7, [None]):
        with pytest.raises(SubstrateError):
            tok.decode(bad)


# ---- training: resume, table methods, config values, devices -----------------------------------------
def _train(data, table, out, *extra):
    return cli("train", "--data", data, *(["--table", table] if table else []), "--out", out, "--steps", "2",
               "--batch-size", "2", "--eval-every", "0", "--ckpt-every", "1", "--device", "cpu", "--no-progress",
               *[f"--set={k}={v}" for k, v in TINY_MODEL.items()], *extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    data, table = make_data(root / "data"), make_table(root / "table")
    res = _train(data, table, root / "run")
    assert res.exit_code == 0, res.output
    return data, table, root / "run"


def test_resume_refuses_changes_that_alter_the_run_and_records_the_rest(trained, tmp_path):
    import shutil

    data, table, run0 = trained
    run = tmp_path / "run"
    shutil.copytree(run0, run)
    before = (run / "run.json").read_bytes()
    for opt, value in (("--seed", "7"), ("--lr", "0.5"), ("--batch-size", "3"), ("--warmup", "0"), ("--context", "8")):
        one_line_error(_train(data, table, run, "--resume", opt, value), "cannot resume", opt.lstrip("-").replace("-", "_"))
    assert (run / "run.json").read_bytes() == before
    res = _train(data, table, run, "--resume", "--steps", "3", "--eval-every", "1", "--keep-last", "3")
    assert res.exit_code == 0, res.output
    record = json.loads((run / "run.json").read_text())
    assert record["train"]["steps"] == 3 and record["train"]["eval_every"] == 1
    assert record["changes"] == [{"step": 2, "changed": {"steps": [2, 3], "eval_every": [0, 1], "keep_last": [2, 3]}}]
    # the same global batch through other per-process sizes is accepted and recorded
    res = _train(data, table, run, "--resume", "--steps", "4", "--batch-size", "1", "--grad-accum", "2")
    assert res.exit_code == 0, res.output
    assert json.loads((run / "run.json").read_text())["changes"][-1]["changed"]["grad_accum"] == [1, 2]


def test_a_preset_refuses_a_table_of_another_method_and_the_run_records_the_tables(trained, tmp_path):
    data = trained[0]
    bit = make_table(tmp_path / "bit", method="bit")
    rnd = make_table(tmp_path / "rnd", method="random")
    one_line_error(_train(data, bit, tmp_path / "r1"), "made by method 'bit'", "expects a 'glyph' table")
    one_line_error(_train(data, rnd, tmp_path / "r2"), "made by method 'random'")
    one_line_error(_train(data, bit, tmp_path / "r3", "--preset", "tiny-float-64"), "expects a 'float' table")
    assert not any((tmp_path / r).exists() for r in ("r1", "r2", "r3"))
    # on purpose: name the method; the run records what the table's manifest says it is
    res = _train(data, rnd, tmp_path / "r4", "--set", "table_method=random")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r4" / "run.json").read_text())["table_method"] == "random"
    paper = make_table(tmp_path / "paper", method="glyph-paper")  # the same kind of table as glyph
    assert _train(data, paper, tmp_path / "r5").exit_code == 0
    assert json.loads((tmp_path / "r5" / "run.json").read_text())["table_method"] == "glyph-paper"


def test_config_values_of_the_wrong_type_and_bad_devices_are_one_line(trained, tmp_path):
    data, table, _ = trained
    for text, fragment in (('steps = "ten"', "steps must be an integer"), ("lr = true", "lr must be a number"),
                           ("compile = 1", "compile must be true or false"), ('device = "gpu"', "device must be"),
                           ("[model]\nn_layer = 2.5", "n_layer must be an integer"), ("model = 3", "model must be a table")):
        cfg = tmp_path / "c.toml"
        cfg.write_text(text + "\n", encoding="utf-8")
        one_line_error(cli("train", "--data", data, "--table", table, "--out", tmp_path / "r", "--config", cfg), fragment)
    one_line_error(_train(data, table, tmp_path / "r", "--device", "cuda:x"), "device must be")
    import torch

    if not torch.cuda.is_available():
        one_line_error(_train(data, table, tmp_path / "r", "--device", "cuda"), "not available")
    one_line_error(cli("train", "--data", tmp_path / "nope", "--out", tmp_path / "r"), "Invalid value for '--data'")
    one_line_error(cli("train", "--steps", "x"), "'--steps'")
    one_line_error(cli("no-such-command"), "No such command")
    assert not (tmp_path / "r").exists()


# ---- corrupt files, modes ------------------------------------------------------------------------------
def test_a_flipped_byte_in_a_large_parquet_fails_the_default_load(tmp_path):
    from unicode_substrate.table import load_table

    out = make_table(tmp_path / "t", dim=1024, vocab=512)
    m = json.loads((out / "manifest.json").read_text())
    assert "embeddings.parquet" in m["fast_checksums"]["files"]  # large: verified at memory speed
    load_table(out)
    p = out / "embeddings.parquet"
    data = bytearray(p.read_bytes())
    data[len(data) // 3] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(SubstrateError, match="embeddings.parquet does not match its checksum"):
        load_table(out)


def test_artifacts_and_run_files_respect_the_umask(trained, tmp_path):
    old = os.umask(0o022)
    try:
        out = make_table(tmp_path / "t")
        assert out.stat().st_mode & 0o777 == 0o755
        assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.iterdir())
        artifacts.atomic_write_bytes(tmp_path / "x.json", b"{}")
        assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    run = trained[2]
    for name in ("run.json", "summary.json"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~old


# ---- SIGKILL at random points ----------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_a_wrong_artifact(world, tmp_path):
    rng = random.Random(0)
    for trial in range(8):
        k = trial % 4  # each command its own output, so --force replaces an artifact of its own kind
        out = tmp_path / f"out{k}"
        args = [str(a) for a in _writing_commands(world, out, tmp_path)[k]]
        p = subprocess.Popen([SUBSTRATE, *args, "--force"] if out.exists() else [SUBSTRATE, *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 2.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if out.exists():  # finished before the kill, or an earlier trial's: it must verify
            verify_manifest(out)
        # the next run of the same command succeeds and cleans what the killed one left
        res = subprocess.run([SUBSTRATE, *args, "--force"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        verify_manifest(out)
        assert leftovers(tmp_path) == [], (args, leftovers(tmp_path))
