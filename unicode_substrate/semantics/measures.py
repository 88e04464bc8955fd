"""How well word vectors separate into their groups, each measure with its chance level and a permutation p-value.

At one level, for vectors X [n, d] with group labels y:

* ``knn``: leave-one-out k-nearest-neighbour accuracy under cosine similarity. Each word's k
  nearest other words (scikit-learn's ``NearestNeighbors`` on the cosine distances, the word itself excluded)
  vote; a tie goes to the group of the nearest of the tied. Chance is not 1 / groups: it
  depends on the group sizes, which is why it is measured, not assumed.
* ``silhouette``: the mean silhouette under cosine distance, as ``sklearn.metrics.silhouette_score``
  computes it (a word alone in its group scores 0).
* ``within`` / ``between``: the mean cosine similarity over pairs of distinct words of one group,
  and over pairs of different groups; ``gap`` is their difference.

Chance: the same measure under ``permutations`` random relabellings of the words (numpy's
``default_rng(seed)``: the same seed gives the same relabellings, so the same chance levels and
p-values). Group sizes stay as they are; the neighbours and distances do not change, only who
belongs where. The chance level is the mean over relabellings and the band their 2.5-97.5 %
percentiles. The p-value is one-sided toward separation, ``(1 + #{null at least as separated}) /
(1 + permutations)`` (never 0: its floor is ``1 / (1 + permutations)``); for ``between`` "more
separated" is lower. The permuted measures are computed for all relabellings at once with the
same formulas, so the observed value is the relabelling that changes nothing (tests hold them to
scikit-learn's own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEASURES: tuple[str, ...] = ("knn", "silhouette", "within", "between", "gap")
LOWER_IS_SEPARATED = frozenset({"between"})
TITLES = {"knn": "kNN accuracy", "silhouette": "silhouette", "within": "cosine within groups",
          "between": "cosine between groups", "gap": "cosine within - between"}
PERMUTATIONS = 1000
NEIGHBOURS = 3
BAND = (2.5, 97.5)


@dataclass(frozen=True)
class Measure:
    """A measure at one level, its chance level (mean over relabellings) with the 95 % band, and its p-value."""

    value: float
    chance: float
    low: float
    high: float
    p: float

    def to_dict(self) -> dict:
        return {"value": self.value, "chance": self.chance, "chance_low": self.low, "chance_high": self.high, "p": self.p}


def relabellings(n: int, permutations: int = PERMUTATIONS, seed: int = 0) -> np.ndarray:
    """``permutations`` shuffles of ``n`` words [P, n] (word i takes the label of word ``perm[i]``), fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(permutations)]) if permutations else np.empty((0, n), np.int64)


def _onehot(labels: np.ndarray, groups: int) -> np.ndarray:
    return (labels[..., None] == np.arange(groups)).astype(np.float64)


def knn_accuracy(neighbours: np.ndarray, labels: np.ndarray, groups: int) -> np.ndarray:
    """Leave-one-out kNN accuracy of each labelling [M, n] given each word's neighbours [n, k], nearest first."""
    k = neighbours.shape[1]
    votes = _onehot(labels[:, neighbours], groups)  # [M, n, k, G]
    score = votes.sum(axis=2)
    # ties go to the group of the nearer neighbour: a bonus below 1 that is larger the nearer a group first appears
    rank = ((k - np.arange(k)) / (k + 1))[None, None, :, None]
    score += (votes * rank).max(axis=2)
    return (score.argmax(axis=2) == labels).mean(axis=1)


def silhouette(distances: np.ndarray, labels: np.ndarray, groups: int) -> np.ndarray:
    """The mean silhouette of each labelling [M, n] over the precomputed distances [n, n] (zero diagonal)."""
    y = _onehot(labels, groups)  # [M, n, G]
    sums = np.matmul(distances, y)  # [M, n, G]: distance of each word to each group, summed
    counts = y.sum(axis=1)[:, None, :]  # [M, 1, G]
    own = y.astype(bool)
    own_count = (counts * y).sum(axis=2)  # [M, n]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (sums * y).sum(axis=2) / (own_count - 1)
        other = np.where(own | (counts == 0), np.inf, sums / counts)
        b = other.min(axis=2)
        s = (b - a) / np.maximum(a, b)
    s = np.where(own_count > 1, np.nan_to_num(s), 0.0)
    return s.mean(axis=1)


def cosines(similarity: np.ndarray, labels: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean cosine over pairs of distinct words within a group, and over pairs of different groups, per labelling."""
    n = similarity.shape[0]
    y = _onehot(labels, groups)
    sums = np.matmul(similarity, y)
    within_all = (sums * y).sum(axis=(1, 2))  # ordered pairs within groups, each word with itself included
    total = similarity.sum()
    diag = np.trace(similarity)
    sizes = y.sum(axis=1)
    pairs_within = (sizes ** 2).sum(axis=1) - n
    pairs_between = n * n - (sizes ** 2).sum(axis=1)
    return (within_all - diag) / pairs_within, (total - within_all) / pairs_between


def measure_level(x: np.ndarray, labels, null: np.ndarray, neighbours: int = NEIGHBOURS) -> dict[str, Measure]:
    """Every measure of vectors ``x`` [n, d] under ``labels`` [n], with chance and p from the relabellings ``null`` [P, n]
    (from :func:`relabellings`)."""
    from sklearn.metrics.pairwise import cosine_similarity
    from sklearn.neighbors import NearestNeighbors

    names, y = np.unique(np.asarray(labels), return_inverse=True)
    ys = np.concatenate([y[None, :], y[np.asarray(null, dtype=np.int64).reshape(-1, len(y))]])
    g = len(names)
    x = np.asarray(x, dtype=np.float64)
    k = min(neighbours, len(x) - 1)
    sim = cosine_similarity(x)
    dist = np.clip(1.0 - sim, 0.0, 2.0)  # sklearn's cosine_distances, from the one similarity matrix
    np.fill_diagonal(dist, 0.0)
    nb = NearestNeighbors(n_neighbors=k, metric="precomputed").fit(dist).kneighbors(return_distance=False)
    within, between = cosines(sim, ys, g)
    values = {"knn": knn_accuracy(nb, ys, g), "silhouette": silhouette(dist, ys, g),
              "within": within, "between": between, "gap": within - between}
    return {m: _summarise(v, m in LOWER_IS_SEPARATED) for m, v in values.items()}


def _summarise(values: np.ndarray, lower: bool) -> Measure:
    obs, rest = float(values[0]), values[1:]
    if not len(rest):
        return Measure(obs, float("nan"), float("nan"), float("nan"), float("nan"))
    tol = 1e-9 * max(1.0, abs(obs))  # a relabelling that keeps every group (members swapped) ties, not wins
    hits = (rest <= obs + tol) if lower else (rest >= obs - tol)
    low, high = np.percentile(rest, BAND)
    return Measure(obs, float(rest.mean()), float(low), float(high), float((1 + hits.sum()) / (1 + len(rest))))
