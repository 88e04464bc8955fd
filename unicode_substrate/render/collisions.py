"""Collision checks on a table (exact and near-duplicate rows) and their deterministic resolution.

Near duplicates are pairs of distinct rows with cosine above a threshold (default 0.999). Why
0.999, measured on the glyph-paper table of bvv241-2-3 (full-rank PCA, so row cosines are the
cosines of the centred pictures): pictures 4 pixels apart (one Unifont pixel, a 2x2 block)
have cosine 0.972-0.996 (median 0.981), and no two distinct pictures exceed 0.9964; every pair
above 0.999 is the same picture, split only by float rounding in the PCA. So 0.999 separates
"the font draws them differently" from "they are one glyph".

Finding all pairs above the threshold exactly without a V x V product: for unit rows,
cos(a, b) >= t  <=>  |a - b| <= sqrt(2 - 2t), and projecting onto any k orthonormal
directions can only shrink distances, so a radius query on the leading k principal
coordinates (a KD-tree) returns every qualifying pair plus a few extra candidates, which
are then checked with the exact cosine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from unicode_substrate.choices import COLLISION_THRESHOLD
from unicode_substrate.errors import SubstrateError


@dataclass(frozen=True)
class CollisionReport:
    """Exact-duplicate groups (lists of ids) and near-duplicate pairs (i, j, cosine)."""

    threshold: float
    exact_groups: list[list[int]] = field(default_factory=list)
    near_pairs: list[tuple[int, int, float]] = field(default_factory=list)

    @property
    def duplicate_rows(self) -> int:
        """Rows that equal at least one other row."""
        return sum(len(g) for g in self.exact_groups)

    @property
    def total(self) -> int:
        return len(self.exact_groups) + len(self.near_pairs)

    def summary(self, tokens: list[str] | None = None, examples: int = 10) -> dict:
        """Counts plus a few examples (token strings when given), for the manifest and console."""

        def name(i: int) -> object:
            return [i, tokens[i]] if tokens is not None else i

        groups = sorted(self.exact_groups, key=lambda g: (-len(g), g[0]))
        return {
            "near_threshold": self.threshold,
            "exact_duplicate_rows": self.duplicate_rows,
            "exact_duplicate_groups": len(self.exact_groups),
            "near_duplicate_pairs": len(self.near_pairs),
            "exact_examples": [[name(i) for i in g[:5]] + ([f"... {len(g)} rows"] if len(g) > 5 else []) for g in groups[:examples]],
            "near_examples": [[name(i), name(j), round(c, 6)] for i, j, c in sorted(self.near_pairs, key=lambda p: -p[2])[:examples]],
        }


def _unit(w: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(w, axis=1, keepdims=True)
    return w / np.where(n == 0, 1, n)


def exact_groups(rows: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    """Groups of ids whose rows are byte-identical, and the first id of every distinct row."""
    rows = np.ascontiguousarray(rows)
    n = len(rows)
    if n == 0 or rows.size == 0:  # no rows, or rows of no bytes (all equal)
        return ([list(range(n))] if n > 1 else []), np.arange(min(n, 1))
    flat = rows.reshape(n, -1).view(np.uint8).reshape(n, -1)
    # sort the rows as byte strings (indirectly: only the ids move), so equal rows end up adjacent;
    # the stable sort keeps equal rows in id order, so each run starts with its lowest id
    order = np.argsort(flat.view(f"V{flat.shape[1]}").ravel(), kind="stable")
    # neighbours are equal only if their word sums are: compare whole rows just for those
    words = flat.view("<u8") if flat.shape[1] % 8 == 0 else flat
    with np.errstate(over="ignore"):
        sums = np.add.reduce(words, axis=1, dtype=np.uint64)[order]
    maybe = np.nonzero(sums[1:] == sums[:-1])[0]
    same = np.zeros(n - 1, dtype=bool)
    for s in range(0, len(maybe), 4096):  # bounded temporaries when many rows repeat
        m = maybe[s : s + 4096]
        same[m] = (flat[order[m]] == flat[order[m + 1]]).all(axis=1)
    starts = np.nonzero(np.concatenate([[True], ~same]))[0]
    sizes = np.diff(np.append(starts, n))
    groups = sorted(sorted(order[a : a + k].tolist()) for a, k in zip(starts[sizes > 1], sizes[sizes > 1]))
    return groups, np.sort(order[starts])


def _leading_directions(u: np.ndarray, k: int) -> np.ndarray:
    """k orthonormal directions [D, k] close to the leading principal axes of the sample rows ``u``.

    Any orthonormal set keeps the search exact; good directions only make it faster.
    """
    d = u.shape[1]
    if d <= k:
        return np.eye(d, dtype=np.float32)
    rng = np.random.default_rng(0)
    # float32 is plenty: the directions are orthonormal to ~1e-6, far inside the search margin
    sub = _unit(np.asarray(u, dtype=np.float32))
    q = rng.standard_normal((d, min(d, k + 8)), dtype=np.float32)
    for _ in range(3):  # a few power iterations of the range finder
        q, _ = np.linalg.qr(sub.T @ (sub @ q))
    _, _, vt = np.linalg.svd(sub @ q, full_matrices=False)
    return np.ascontiguousarray(q @ vt.T[:, :k], dtype=np.float32)


def _radius(threshold: float) -> float:
    """Distance between unit rows at cosine ``threshold``, plus a margin for float32 rounding of the projection."""
    return float(np.sqrt(max(2.0 - 2.0 * threshold, 0.0)) + 1e-5)


def _near_pairs_matmul(w: np.ndarray, norms: np.ndarray, reps: np.ndarray, threshold: float, block: int = 2048):
    """Candidate pairs (indices into reps) from blocked float32 cosines, upper triangle only, one tile at a time."""
    u = w[reps] / norms[reps, None].astype(np.float32)
    loose = threshold - 1e-4  # float32 rounding margin; candidates are re-checked in float64
    for r in range(0, len(u), block):
        for c in range(r, len(u), 4 * block):  # tiles of 2048 x 8192 cosines (64 MiB)
            i, j = np.nonzero(u[r : r + block] @ u[c : c + 4 * block].T > loose)
            i, j = i + r, j + c
            keep = j > i
            yield np.stack([i[keep], j[keep]], axis=1)


# The most near pairs a search keeps (a table with more cannot tell its tokens apart; about 100 MB of
# pairs), and the most KD-tree candidates it collects at once (16 bytes each) before it sweeps tiles.
MAX_NEAR_PAIRS = 1_000_000
MAX_CANDIDATES = 20_000_000


def find_collisions(weight: np.ndarray, threshold: float = COLLISION_THRESHOLD, k: int = 8, strategy: str = "auto",
                    max_pairs: int = MAX_NEAR_PAIRS) -> CollisionReport:
    """All exact-duplicate groups and all near-duplicate pairs (cosine > threshold) of ``weight``.

    ``strategy``: ``kdtree`` (radius search on k leading directions; fast when those directions
    carry the spread, as in glyph tables), ``matmul`` (blocked V x V cosines; for tables whose
    spread is isotropic, such as random codes), or ``auto`` (estimates the KD-tree candidates
    from a sample of rows and picks the cheaper). Both are exact. ``exact-only`` skips the near
    search, for tables where distinct rows provably stay below the threshold. More than
    ``max_pairs`` near pairs is a one-line error (memory stays bounded whatever the table); rows
    so large that float32 products overflow are scaled by one power of two first.
    """
    w = np.ascontiguousarray(weight, dtype=np.float32)
    groups, reps = exact_groups(w)
    peak = float(np.abs(w).max()) if w.size else 0.0
    if peak > 2.0**60:  # float32 products of such rows overflow: scale all rows by one power of two (cosines keep)
        w = w * np.float32(2.0 ** -math.ceil(math.log2(peak)))
    norms = np.sqrt(np.einsum("ij,ij->i", w, w, dtype=np.float64))
    norms[norms == 0] = 1.0
    if strategy not in ("auto", "kdtree", "matmul", "exact-only"):
        raise SubstrateError(f"unknown collision search strategy {strategy!r}")
    if strategy == "exact-only":  # the caller has a proof that distinct rows cannot be near
        return CollisionReport(threshold, groups, [])
    tree = None
    if strategy != "matmul":
        from scipy.spatial import cKDTree

        # project then normalise: avoids a second [V, D] copy of the table
        proj = (w @ _leading_directions(w[reps[:: max(1, len(reps) // 8192)]], k)) / norms[:, None].astype(np.float32)
        tree = cKDTree(proj[reps].astype(np.float64))
    if strategy == "auto":
        sample = proj[reps[np.random.default_rng(0).choice(len(reps), size=min(len(reps), 256), replace=False)]]
        hits = int(tree.query_ball_point(sample.astype(np.float64), _radius(threshold), return_length=True).sum()) - len(sample)
        expected = hits / max(len(sample), 1) * len(reps) / 2
        # verifying a candidate costs far less than a V x V tile sweep: the KD-tree wins up to
        # tens of millions of candidates (6.6M on a 128-dim glyph table: 4 s vs 16 s blocked)
        strategy = "kdtree" if expected < 2e7 else "matmul"
        sure = expected < MAX_CANDIDATES / 100  # far below the bound: no count needed
    else:
        sure = False
    if strategy == "kdtree" and not sure:  # counted first: the pairs are only collected when there are not too many
        n_cand = (int(tree.count_neighbors(tree, _radius(threshold))) - len(reps)) // 2
        strategy = "kdtree" if n_cand <= MAX_CANDIDATES else "matmul"
    if strategy == "kdtree":  # candidate pairs (indices into reps) within the projected radius
        tiles = iter([tree.query_pairs(_radius(threshold), output_type="ndarray")])
    else:
        tiles = _near_pairs_matmul(w, norms, reps, threshold)
    near = []
    for cand in tiles:
        for s in range(0, len(cand), 1 << 16):
            a, b = reps[cand[s : s + (1 << 16), 0]], reps[cand[s : s + (1 << 16), 1]]
            cos = np.einsum("ij,ij->i", w[a].astype(np.float64), w[b].astype(np.float64)) / (norms[a] * norms[b])
            hit = cos > threshold
            for i, j, v in zip(a[hit], b[hit], cos[hit]):
                i, j = sorted((int(i), int(j)))
                near.append((i, j, float(v)))
            if len(near) > max_pairs:  # memory stays bounded whatever the table
                raise SubstrateError(f"the table has more than {max_pairs:,} near-duplicate row pairs (cosine above "
                                     f"{threshold}): its rows cannot tell the tokens apart")
    near.sort()
    return CollisionReport(threshold, groups, near)


def _perturbation(token_id: int, dim: int, seed: int, round_: int) -> np.ndarray:
    return np.random.default_rng([seed, 0xC011, token_id, round_]).standard_normal(dim)


def resolve_collisions(
    weight: np.ndarray, threshold: float = COLLISION_THRESHOLD, seed: int = 0, max_rounds: int = 8
) -> tuple[np.ndarray, dict]:
    """Make every row unique and below the near-duplicate threshold, moving as few rows as little as possible.

    In each exact group the lowest id keeps its row; every other member of a group, and the
    higher id of each near pair, moves to ``normalize(x + eps * e)`` with ``e`` a unit direction
    orthogonal to ``x`` drawn from a generator seeded by (seed, token id, round). ``eps`` is
    chosen so the moved row keeps cosine ``1 - 2 (1 - threshold)`` with where it was: close to
    its glyph, yet two moved copies of one row end up below the threshold.
    """
    w = np.array(weight, dtype=np.float64)
    norms = np.linalg.norm(w, axis=1)
    target = 1 - 2 * (1 - threshold)
    eps = np.sqrt(1 / target**2 - 1)
    original = w.copy()
    moved: set[int] = set()
    rounds = 0
    while True:
        report = find_collisions(w.astype(np.float32), threshold)
        if report.total == 0:
            break
        if rounds == max_rounds:
            raise SubstrateError(f"could not resolve all collisions in {max_rounds} rounds")
        ids = {i for g in report.exact_groups for i in g[1:]} | {j for _, j, _ in report.near_pairs}
        for i in sorted(ids):
            x = w[i] / (norms[i] or 1.0)
            e = _perturbation(i, w.shape[1], seed, rounds)
            if norms[i] == 0:  # a zero row has no direction to stay close to: give it one
                x = np.zeros_like(e)
            e -= (e @ x) * x
            e /= np.linalg.norm(e)
            y = x + eps * e
            w[i] = y / np.linalg.norm(y) * (norms[i] or 1.0)
            moved.add(i)
        rounds += 1
    out = np.ascontiguousarray(w, dtype=np.float32)
    idx = np.array(sorted(moved), dtype=np.int64)
    cos = (_unit(original[idx]) * _unit(w[idx])).sum(1) if len(idx) else np.ones(0)
    info = {
        "resolved_rows": len(idx),
        "rounds": rounds,
        "min_cosine_to_original": float(cos.min()) if len(idx) else 1.0,
        "seed": seed,
    }
    return out, {"info": info, "moved": idx, "report": report}
