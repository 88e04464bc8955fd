"""BPE over many short chunks at once with numpy: one merge per chunk per round.

Each round looks up the rank of every adjacent symbol pair (an open-addressing hash table held
in numpy arrays), takes per chunk the lowest rank, leftmost on ties, and applies that one merge:
exactly the order of the Hugging Face BPE model. Chunks that can merge no further leave the
working arrays, so the total work is about the sum over chunks of length x merges, done in
vectorised steps instead of Python loops.
"""

from __future__ import annotations

import numpy as np

_ID_BITS = 21  # pair key = left id * 2^21 + right id (ids stay below 2^21)
_NONE = np.int64(1 << 40)  # rank of a pair without a merge
_EMPTY = np.int64(-1)
_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads consecutive keys over the table


class MergeTable:
    """Merges in a hash table: pair key -> (rank, result id), looked up for whole arrays at once."""

    def __init__(self, ranks: dict[tuple[str, str], int], vocab: dict[str, int]):
        keys = np.array([(vocab[a] << _ID_BITS) + vocab[b] for a, b in ranks], dtype=np.int64)
        rank = np.array(list(ranks.values()), dtype=np.int64)
        result = np.array([vocab[a + b] for a, b in ranks], dtype=np.int64)
        bits = max(4, int(len(keys) * 4 - 1).bit_length())  # load factor <= 1/4: about one probe per lookup
        self._shift = np.uint64(64 - bits)
        self._mask = np.int64((1 << bits) - 1)
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self.ranks = np.full(1 << bits, _NONE, dtype=np.int64)
        self.results = np.zeros(1 << bits, dtype=np.int64)
        home = self._home(keys)
        todo = np.arange(len(keys))
        self.max_probe = 0
        while len(todo):
            slot = (home[todo] + self.max_probe) & self._mask
            free = self.keys[slot] == _EMPTY
            # Of several keys wanting the same free slot, the first takes it; the rest probe on.
            _, first = np.unique(np.where(free, slot, -1), return_index=True)
            first = first[free[first]]
            won = todo[first]
            self.keys[slot[first]] = keys[won]
            self.ranks[slot[first]] = rank[won]
            self.results[slot[first]] = result[won]
            placed = np.zeros(len(todo), dtype=bool)
            placed[first] = True
            todo = todo[~placed]
            self.max_probe += 1

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * _MULT) >> self._shift).astype(np.int64)

    def lookup(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rank, slot) of each pair; rank is _NONE where no merge exists."""
        key = (left << _ID_BITS) + right
        home = self._home(key)
        slot = np.full(len(key), -1, dtype=np.int64)
        todo = np.arange(len(key))
        for probe in range(self.max_probe):
            s = (home[todo] + probe) & self._mask
            k = self.keys[s]
            hit = k == key[todo]
            slot[todo[hit]] = s[hit]
            todo = todo[~hit & (k != _EMPTY)]
            if not len(todo):
                break
        return np.where(slot >= 0, self.ranks[slot], _NONE), slot


def encode_many(ids: np.ndarray, lengths: np.ndarray, table: MergeTable) -> list[list[int]]:
    """Run BPE on each chunk; ``ids`` holds the chunks' initial symbol ids back to back."""
    n = len(lengths)
    seg = np.repeat(np.arange(n, dtype=np.int64), lengths)
    sym = ids.astype(np.int64, copy=True)
    done_sym: list[np.ndarray] = []
    done_seg: list[np.ndarray] = []
    while len(sym):
        m = len(sym)
        rank, slot = table.lookup(sym[:-1], sym[1:])
        rank = np.where(seg[:-1] == seg[1:], rank, _NONE)  # no pair across two chunks
        order = np.append(rank * m + np.arange(m - 1, dtype=np.int64), _NONE * m)  # rank first, then leftmost
        starts = np.flatnonzero(np.diff(seg, prepend=-1))
        best = np.minimum.reduceat(order, starts)
        active = best < _NONE * m
        finished = np.repeat(~active, np.diff(np.append(starts, m)))
        if finished.any():
            done_sym.append(sym[finished])
            done_seg.append(seg[finished])
        at = best[active] % m  # the merge position in each still-active chunk
        sym[at] = table.results[slot[at]]
        keep = ~finished
        keep[at + 1] = False
        sym, seg = sym[keep], seg[keep]
    all_sym = np.concatenate(done_sym) if done_sym else np.zeros(0, dtype=np.int64)
    all_seg = np.concatenate(done_seg) if done_seg else np.zeros(0, dtype=np.int64)
    flat = all_sym[np.argsort(all_seg, kind="stable")].tolist()  # a chunk's symbols keep their order
    edges = [0, *np.cumsum(np.bincount(all_seg, minlength=n)).tolist()]
    return [flat[a:b] for a, b in zip(edges, edges[1:])]
