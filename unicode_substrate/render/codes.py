"""ID-code tables (SPEC B.2 ablations): unique binary codes, projected floats, Gaussian control.

Every generator is ``numpy.random.default_rng([seed, METHOD_TAG, dim])`` (PCG64), so a code
table depends only on (method, dim, vocab size, seed).

* ``bit``: each row is a distinct D-bit code, written as +-1/sqrt(D) (bit 1 -> +, bit 0 -> -)
  so every row has unit L2 norm and none is zero. D = 16 is the token id in binary, most
  significant bit first (needs V <= 65,536). D < 16 or 16 < D <= 24: V distinct integers drawn
  without replacement from [0, 2**D). D > 24: uniform random bits, any repeated row redrawn
  until all rows are distinct (checked, so unique by construction).
* ``float``: the 1024-bit code of ``bit`` projected by a Gaussian matrix to D dims, L2 rows.
* ``random``: i.i.d. standard normal [V, D], L2 rows.
"""

from __future__ import annotations

import numpy as np

from unicode_substrate.errors import SubstrateError

METHOD_TAGS = {"bit": 1, "float": 2, "random": 3}
# The widest code table: the widest any method makes (glyph-paper abs, 4,096). Wider is refused
# rather than attempted (65,536 x 100,000 codes would need 26 GB before failing).
MAX_CODE_DIM = 4096


def _rng(method: str, dim: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, METHOD_TAGS[method], dim])


def _int_bits(values: np.ndarray, dim: int) -> np.ndarray:
    """Binary digits of ``values``, most significant first: uint8 [len, dim]."""
    shifts = np.arange(dim - 1, -1, -1, dtype=np.uint64)
    return ((values.astype(np.uint64)[:, None] >> shifts) & 1).astype(np.uint8)


def check_dim(dim: int, limit: int, what: str) -> None:
    """Refuse a table width below 1 or above what the method can give (every method's one check)."""
    if dim < 1:
        raise SubstrateError(f"width {dim} must be positive", param="dim")
    if dim > limit:
        raise SubstrateError(f"width {dim} is larger than {what} allows (at most {limit})", param="dim")


def unique_bits(vocab_size: int, dim: int, seed: int = 0) -> np.ndarray:
    """Distinct binary codes uint8 [V, dim] (see the module docstring for the construction)."""
    check_dim(dim, MAX_CODE_DIM, "a code table")
    if dim < 63 and vocab_size > 2**dim:
        raise SubstrateError(f"width {dim} gives only {2**dim} distinct binary codes, fewer than the {vocab_size} tokens",
                             param="dim")
    if dim == 16:
        return _int_bits(np.arange(vocab_size), 16)
    rng = _rng("bit", dim, seed)
    if dim <= 24:
        return _int_bits(rng.choice(2**dim, size=vocab_size, replace=False), dim)
    bits = rng.integers(0, 2, size=(vocab_size, dim), dtype=np.uint8)
    while True:
        _, first = np.unique(bits, axis=0, return_index=True)
        if len(first) == vocab_size:
            return bits
        dup = np.setdiff1d(np.arange(vocab_size), first)
        bits[dup] = rng.integers(0, 2, size=(len(dup), dim), dtype=np.uint8)


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def code_table(method: str, vocab_size: int, dim: int, seed: int = 0) -> np.ndarray:
    """A float32 [V, dim] code table with unit-norm rows for ``bit``, ``float`` or ``random``."""
    if method not in METHOD_TAGS:
        raise SubstrateError(f"unknown code method {method!r}")
    check_dim(dim, MAX_CODE_DIM, "a code table")
    if method == "bit":
        bits = unique_bits(vocab_size, dim, seed)
        return np.ascontiguousarray((bits.astype(np.float32) * 2 - 1) / np.float32(np.sqrt(dim)))
    rng = _rng(method, dim, seed)
    if method == "float":
        base = unique_bits(vocab_size, 1024, seed).astype(np.float32) * 2 - 1
        proj = rng.standard_normal((1024, dim), dtype=np.float32)
        return _l2(base @ proj)
    return _l2(rng.standard_normal((vocab_size, dim), dtype=np.float32))
