"""Table artifacts: exact read-back, determinism, verification at load time, import-table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _render_helpers import make_tokenizer
from click.testing import CliRunner

from unicode_substrate.artifacts import sha256_file
from unicode_substrate.cli import main
from unicode_substrate.errors import SubstrateError
from unicode_substrate.table import SAFETENSORS, as_embedding, content_checksum, load_table, table_tokens, write_table

TOKENS = ["a", "b", "ab", "\n", " ", "<pad>", "日本", "\U0001F600"]


@pytest.fixture()
def tok(tmp_path):
    return make_tokenizer(tmp_path / "tok", TOKENS)


def fields(tok):
    from unicode_substrate.artifacts import manifest_sha256

    return {"method": "test", "tokenizer_manifest_sha256": manifest_sha256(tok)}


@pytest.mark.parametrize("layout", ["c", "fortran", "strided"])
def test_read_back_is_bit_exact_for_any_memory_layout(tmp_path, tok, layout):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((len(TOKENS), 6)).astype(np.float32)
    w = {"c": base, "fortran": np.asfortranarray(base), "strided": rng.standard_normal((len(TOKENS), 12)).astype(np.float32)[:, ::2]}[layout]
    out = write_table(tmp_path / "t", w, TOKENS, fields(tok))
    t = load_table(out, tokenizer=tok)
    assert t.weight.dtype == np.float32 and t.weight.flags.c_contiguous
    np.testing.assert_array_equal(t.weight, w)
    assert t.weight.tobytes() == np.ascontiguousarray(w).tobytes()
    assert table_tokens(out) == TOKENS
    import pyarrow.parquet as pq

    pt = pq.read_table(out / "embeddings.parquet")
    np.testing.assert_array_equal(np.array(pt.column("vector").to_pylist(), dtype=np.float32), w)
    assert t.manifest["vocab_size"] == len(TOKENS) and t.manifest["dim"] == 6


def test_same_inputs_give_byte_identical_files(tmp_path, tok):
    w = np.arange(len(TOKENS) * 4, dtype=np.float32).reshape(-1, 4)
    a = write_table(tmp_path / "a", w, TOKENS, fields(tok), {"script": ["x"] * len(TOKENS)})
    b = write_table(tmp_path / "b", w, TOKENS, fields(tok), {"script": ["x"] * len(TOKENS)})
    for name in ("embeddings.safetensors", "embeddings.parquet", "manifest.json"):
        assert sha256_file(a / name) == sha256_file(b / name)


def test_fields_computed_while_writing_reach_the_manifest_or_stop_the_write(tmp_path, tok):
    w = np.arange(len(TOKENS) * 4, dtype=np.float32).reshape(-1, 4)
    plain = write_table(tmp_path / "plain", w, TOKENS, {**fields(tok), "collisions": {"n": 1}})
    later = write_table(tmp_path / "later", w, TOKENS, fields(tok), later=lambda: {"collisions": {"n": 1}})
    for name in ("embeddings.safetensors", "embeddings.parquet", "manifest.json"):  # same bytes either way
        assert sha256_file(plain / name) == sha256_file(later / name)

    def refuse() -> dict:
        raise SubstrateError("2 rows duplicate another row")

    with pytest.raises(SubstrateError, match="duplicate"):
        write_table(tmp_path / "refused", w, TOKENS, fields(tok), later=refuse)
    assert not (tmp_path / "refused").exists() and not list(tmp_path.glob(".refused*"))


@pytest.mark.parametrize("dim", [8, 7])  # uint64 words for even D, uint32 for odd D
def test_checksum_sees_any_changed_byte_and_swapped_rows(dim):
    w = np.random.default_rng(1).standard_normal((50, dim)).astype(np.float32)
    ref = content_checksum(w)
    raw = bytearray(w.tobytes())
    for pos in (0, 777, len(raw) - 1):
        for bit in (0x01, 0x80):
            changed = raw.copy()
            changed[pos] ^= bit
            assert content_checksum(np.frombuffer(bytes(changed), dtype=np.float32).reshape(50, dim)) != ref
    assert content_checksum(w[[1, 0, *range(2, 50)]]) != ref


@pytest.mark.parametrize("damage", ["flip-data", "flip-header", "truncate", "append"])
def test_load_refuses_damaged_tensor_file(tmp_path, tok, damage):
    w = np.random.default_rng(2).standard_normal((len(TOKENS), 16)).astype(np.float32)
    out = write_table(tmp_path / "t", w, TOKENS, fields(tok))
    path = out / SAFETENSORS
    data = bytearray(path.read_bytes())
    if damage == "flip-data":
        data[-37] ^= 0x40
    elif damage == "flip-header":
        data[20] ^= 0x01
    elif damage == "truncate":
        data = data[:-10]
    else:
        data += b"\0" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(SubstrateError) as e:
        load_table(out)
    assert "\n" not in str(e.value)
    with pytest.raises(SubstrateError):
        load_table(out, verify="sha256")


def test_edited_parquet_is_caught_by_full_verification(tmp_path, tok):
    out = write_table(tmp_path / "t", np.eye(len(TOKENS), dtype=np.float32), TOKENS, fields(tok))
    p = out / "embeddings.parquet"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(SubstrateError, match="embeddings.parquet does not match"):
        load_table(out)  # the default check covers every file, at memory speed
    with pytest.raises(SubstrateError, match="embeddings.parquet does not match"):
        load_table(out, verify="sha256")


def test_table_for_another_tokenizer_is_refused(tmp_path, tok):
    out = write_table(tmp_path / "t", np.eye(len(TOKENS), dtype=np.float32), TOKENS, fields(tok))
    other = make_tokenizer(tmp_path / "other", TOKENS[::-1])
    with pytest.raises(SubstrateError, match="rendered for tokenizer"):
        load_table(out, tokenizer=other)
    with pytest.raises(SubstrateError, match="rendered for tokenizer"):
        as_embedding(out, tokenizer=other)


def test_as_embedding_is_frozen_and_equal(tmp_path, tok):
    import torch

    w = np.random.default_rng(3).standard_normal((len(TOKENS), 5)).astype(np.float32)
    out = write_table(tmp_path / "t", w, TOKENS, fields(tok))
    emb = as_embedding(out, tokenizer=tok)
    assert isinstance(emb, torch.nn.Embedding) and not emb.weight.requires_grad
    assert torch.equal(emb.weight, torch.from_numpy(w))
    assert as_embedding(out, freeze=False).weight.requires_grad


def test_import_table_from_a_tensor_file(tmp_path, tok):
    import torch

    w = torch.nn.functional.normalize(torch.randn(len(TOKENS), 12, generator=torch.Generator().manual_seed(0)), dim=1)
    pt = tmp_path / "normalized_embeddings_weights.pt"
    torch.save(w, pt)
    r = CliRunner().invoke(main, ["import-table", str(pt), "--tokenizer", str(tok), "--out", str(tmp_path / "imp")])
    assert r.exit_code == 0, r.output
    t = load_table(tmp_path / "imp", tokenizer=tok)
    np.testing.assert_array_equal(t.weight, w.numpy())
    assert t.manifest["method"] == "imported"
    assert t.manifest["parameters"]["source_sha256"] == sha256_file(pt)
    # wrong row count, a pickled object, a missing file: one line each, nothing written
    torch.save(w[:3], tmp_path / "short.pt")

    import fractions

    torch.save({"obj": fractions.Fraction(1, 3)}, tmp_path / "evil.pt")  # needs a full unpickler
    for name, msg in [("short.pt", "has 3 rows"), ("evil.pt", "weights_only"), ("nope.pt", "does not exist")]:
        r = CliRunner().invoke(main, ["import-table", str(tmp_path / name), "--tokenizer", str(tok), "--out", str(tmp_path / "bad")])
        assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
        assert not (tmp_path / "bad").exists()


def test_manifest_records_the_checksum_and_header(tmp_path, tok):
    out = write_table(tmp_path / "t", np.eye(len(TOKENS), dtype=np.float32), TOKENS, fields(tok))
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "table" and m["dtype"] == "float32"
    assert set(m["files"]) == {"embeddings.safetensors", "embeddings.parquet"}
    assert m["embeddings_checksum"]["value"] == content_checksum(np.eye(len(TOKENS), dtype=np.float32))


def test_tensor_file_is_standard_safetensors(tmp_path, tok):
    from safetensors.numpy import load_file

    w = np.random.default_rng(4).standard_normal((len(TOKENS), 3)).astype(np.float32)
    out = write_table(tmp_path / "t", w, TOKENS, fields(tok))
    loaded = load_file(str(out / SAFETENSORS))
    np.testing.assert_array_equal(loaded["embeddings"], w)
    from safetensors import safe_open

    with safe_open(str(out / SAFETENSORS), framework="numpy") as f:
        meta = f.metadata()
    assert meta["method"] == "test" and meta["format"] == "unicode-substrate-table"
