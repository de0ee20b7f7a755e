"""Bootstrap confidence intervals (percentile method) for reports and the
regression board.

- `bootstrap_ci(scores)`: 95% CI of the mean of per-sample scores.
- `paired_bootstrap(base, cand)`: 95% CI of mean(cand) - mean(base) over the
  items both runs scored, resampling *items* (the same resampled items for both
  runs), as in Koehn 2004 / Dror et al. 2018.
- `stratified_bootstrap_ci(strata, weights)`: 95% CI of a weighted sum of stratum means
  (PolyMath's DW-ACC: levels weighted 1:2:4:8), resampling items within each stratum.

Both are deterministic for a given seed. Signature: ``bootstrap:percentile|
iters:<B>|seed:<s>|ci:95``.
"""

from __future__ import annotations

import numpy as np

DEFAULT_ITERS = 2000
DEFAULT_SEED = 1234


def signature(iters: int = DEFAULT_ITERS, seed: int = DEFAULT_SEED) -> str:
    return f"bootstrap:percentile|iters:{iters}|seed:{seed}|ci:95"


def _resampled_means(values: np.ndarray, iters: int, seed: int) -> np.ndarray:
    n = len(values)
    rng = np.random.default_rng(seed)
    out = np.empty(iters)
    chunk = max(1, 2_000_000 // max(n, 1))  # bound memory for big n
    for start in range(0, iters, chunk):
        stop = min(iters, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


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
