"""Bootstrap confidence intervals (percentile method) for reports and the
regression board.

- `bootstrap_ci(scores)`: 95% CI of the mean of per-sample scores.
- `paired_bootstrap(base, cand)`: 95% CI of mean(cand) - mean(base) over the
  items both runs scored, resampling *items* (the same resampled items for both
  runs), as in Koehn 2004 / Dror et al. 2018.
- `stratified_bootstrap_ci(strata, weights)`: 95% CI of a weighted sum of stratum means
  (PolyMath's DW-ACC: levels weighted 1:2:4:8), resampling items within each stratum.

- `rows_bootstrap(rows, statistics)`: 95% CIs of statistics of several rows' means (a
  family mean over languages, the English gap, the best-minus-worst spread), or with
  ``baseline`` of their paired change. With ``clustered`` (a family whose items are the
  same in every language) the bootstrap resamples *items jointly across languages*: one
  draw of item keys serves every row, so an item that is hard in one language stays in
  the resample in all of them, and the CI accounts for the correlation; otherwise every
  row resamples its own items independently (languages as independent samples).

All are deterministic for a given seed. Signature: ``bootstrap:percentile|iters:<B>|
seed:<s>|ci:95``; a statistic over languages adds ``ci:cluster-item`` (items resampled
jointly) or ``ci:independent-languages``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lm_eval_ext.signature import Signature

DEFAULT_ITERS = 2000
DEFAULT_SEED = 1234


CLUSTER_ITEM = "cluster-item"
INDEPENDENT = "independent-languages"


def signature(iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED, over_languages: str | None = None) -> str:
    """How a CI was computed; `over_languages` (`CLUSTER_ITEM`, `INDEPENDENT`) for a statistic
    over several languages' means."""
    return str(Signature.of(("bootstrap", "percentile"), ("iters", iters), ("seed", seed), ("ci", 95),
                            ("ci", over_languages) if over_languages else None))


def resample_indices(n: int, iters: int, seed: int):
    """The bootstrap's draws of n items, in chunks of (rows, n) indices (memory bounded for big n):
    `bootstrap_ci` resamples with them, the latent-language summary resamples concepts jointly
    across layers with the same draws."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, iters, chunk):
        yield rng.integers(0, n, size=(min(iters, start + chunk) - start, n))


def _resampled_means(values: np.ndarray, iters: int, seed: int) -> np.ndarray:
    return np.concatenate([values[idx].mean(axis=1) for idx in resample_indices(len(values), iters, seed)])


def bootstrap_ci(scores, iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap 95% CI."""
    values = np.asarray(list(scores), dtype=float)
    if len(values) == 0:
        raise ValueError("bootstrap of no scores")
    means = _resampled_means(values, iters, seed)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(values.mean()), float(lo), float(hi)


def paired_bootstrap(base: dict, cand: dict, iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED):
    """Paired bootstrap over the items (keys) both runs scored.

    Returns (delta, low, high, n): delta = mean(cand) - mean(base) over the
    shared items and its 95% CI."""
    keys = sorted(set(base) & set(cand), key=lambda k: (str(type(k)), k))
    if not keys:
        raise ValueError("no items scored in both runs")
    diff = np.array([cand[k] - base[k] for k in keys], dtype=float)
    means = _resampled_means(diff, iters, seed)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(diff.mean()), float(lo), float(hi), len(keys)


# ------------------------------------------------------------ statistics over rows
@dataclass(frozen=True)
class Estimate:
    value: float  # the statistic of the observed means (with a baseline: candidate - baseline)
    lo: float
    hi: float
    n: int  # items (clusters when clustered) the resamples draw from


def _row_means(values: np.ndarray, present: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(draws x rows) means: each draw weights item k by counts[:, k]; an item a row lacks counts 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ (values * present).T) / (counts @ present.T)


def rows_bootstrap(rows: dict, statistics: dict, clustered: bool, baseline: dict | None = None,
                   iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED) -> dict:
    """{name: Estimate} of `statistics` ({name: f}, f mapping a (draws x rows) array of row
    means to one value per draw, rows in the order of `rows`) over ``rows`` ({row: {item key:
    score}}). With `baseline` (the same shape), the paired change f(candidate) - f(baseline)
    over the items both have in each row, both resampled with the same draws. Draws where a
    statistic is undefined (a row left without items) are left out of its quantiles; a
    statistic of no defined draw is left out of the result."""
    names = list(rows)
    if baseline is not None:
        pairs = {r: sorted(set(rows[r]) & set(baseline.get(r) or {}), key=_order) for r in names}
    else:
        pairs = {r: sorted(rows[r], key=_order) for r in names}
    if not names or any(not keys for keys in pairs.values()):
        raise ValueError("a row without items")
    keys = sorted(set().union(*pairs.values()), key=_order)
    col = {k: j for j, k in enumerate(keys)}
    shape = (len(names), len(keys))
    cand, base, present = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, r in enumerate(names):
        for k in pairs[r]:
            j = col[k]
            present[i, j] = 1.0
            cand[i, j] = rows[r][k]
            if baseline is not None:
                base[i, j] = baseline[r][k]

    def stat(f, means_c, means_b):
        out = np.asarray(f(means_c), dtype=float)
        return out - np.asarray(f(means_b), dtype=float) if baseline is not None else out

    ones = np.ones((1, len(keys)))
    observed_c, observed_b = _row_means(cand, present, ones), _row_means(base, present, ones)
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in statistics}
    chunk = max(1, 2_000_000 // max(len(keys) * (1 if clustered else len(names)), 1))
    for start in range(0, iters, chunk):
        size = min(chunk, iters - start)
        if clustered:  # one draw of items for every row
            counts = rng.multinomial(len(keys), np.full(len(keys), 1 / len(keys)), size=size).astype(float)
            means_c, means_b = _row_means(cand, present, counts), _row_means(base, present, counts)
        else:  # each row draws its own items
            means_c, means_b = np.empty((size, len(names))), np.empty((size, len(names)))
            for i in range(len(names)):
                own = np.flatnonzero(present[i])
                counts = np.zeros((size, len(keys)))
                counts[:, own] = rng.multinomial(len(own), np.full(len(own), 1 / len(own)), size=size)
                means_c[:, i] = _row_means(cand[i:i + 1], present[i:i + 1], counts)[:, 0]
                means_b[:, i] = _row_means(base[i:i + 1], present[i:i + 1], counts)[:, 0]
        for name, f in statistics.items():
            draws[name].append(stat(f, means_c, means_b))
    out = {}
    for name, f in statistics.items():
        value = float(stat(f, observed_c, observed_b)[0])
        sample = np.concatenate(draws[name])
        sample = sample[np.isfinite(sample)]
        if not np.isfinite(value) or len(sample) == 0:
            continue
        lo, hi = np.quantile(sample, [0.025, 0.975])
        out[name] = Estimate(value, float(lo), float(hi), len(keys))
    return out


def _order(key):
    return (str(type(key)), key)


def weighted(weights) -> "callable":
    """A statistic: the weighted sum of the row means (weights in row order)."""
    w = np.asarray(weights, dtype=float)
    return lambda means: means @ w


def spread(selected) -> "callable":
    """A statistic: the best-minus-worst row mean among the rows `selected` (a boolean per row)."""
    mask = np.asarray(selected, dtype=bool)
    return lambda means: means[:, mask].max(axis=1) - means[:, mask].min(axis=1)


def stratified_bootstrap_ci(strata: dict, weights: dict, iters: int = DEFAULT_ITERS,
                            seed: int = DEFAULT_SEED) -> tuple[float, float, float]:
    """(value, low, high) of sum(weights[s] * mean(strata[s])): each resample draws the items of
    every stratum from that stratum (its size kept)."""
    if not strata or any(len(v) == 0 for v in strata.values()):
        raise ValueError("bootstrap of an empty stratum")
    total = np.zeros(iters)
    value = 0.0
    for i, (name, scores) in enumerate(sorted(strata.items())):
        values = np.asarray(list(scores), dtype=float)
        total += weights[name] * _resampled_means(values, iters, seed + i)
        value += weights[name] * float(values.mean())
    lo, hi = np.quantile(total, [0.025, 0.975])
    return value, float(lo), float(hi)
