"""Per-layer means over concepts with bootstrap CIs, and the English-latent share.

Every statistic comes from one set of bootstrap draws over the concepts (percentile method, the
draws `metrics.bootstrap.bootstrap_ci` makes for the same seed and count, resampling concepts
jointly across layers), so a per-layer CI here is exactly `bootstrap_ci` of that layer's values
and the CI of a statistic of the whole curve resamples whole concepts.

**English-latent share** (one number per language pair): the peak, over the layers of the middle
third of the relative depth ℓ/L in [1/3, 2/3], of P̄(en) / (P̄(en) + P̄(target)), where P̄ is the
mean over concepts at that layer. A share of the two masses rather than P(en) alone, because
models differ in how much mass the lens gives either word at all (an English-centric 135M model
puts little on both); the ratio of the means, not the mean of per-concept ratios, because a
concept with both masses near 0 has an undefined, noisy ratio. 0.5 means the middle layers favour
neither; near 1, English dominates where the paper found it for Llama 2; near 0, the target.
The bootstrap draws the same statistic from resampled concepts (its CI and standard error).
"""

from __future__ import annotations

import numpy as np

from lm_eval_ext.metrics import bootstrap

MIDDLE = (1 / 3, 2 / 3)


def middle_layers(points: int) -> list[int]:
    """The layers (0 = embeddings .. points-1) whose relative depth lies in the middle third."""
    last = max(points - 1, 1)
    return [i for i in range(points) if MIDDLE[0] - 1e-9 <= i / last <= MIDDLE[1] + 1e-9]


def _draws(n: int, iters: int, seed: int) -> np.ndarray:
    """(iters, n) concept indices: the draws `bootstrap.bootstrap_ci` makes for n values."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(n, 1))
    return np.concatenate([rng.integers(0, n, size=(min(iters, s + chunk) - s, n)) for s in range(0, iters, chunk)])


def _share(p_en: np.ndarray, p_tgt: np.ndarray, layers: list[int]) -> np.ndarray:
    """(..., points) mean curves -> (...,) peak of P(en)/(P(en)+P(target)) over `layers` (NaN where
    both masses are 0 at every one of them)."""
    en, tgt = p_en[..., layers], p_tgt[..., layers]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = en / (en + tgt)
    peak = np.where(np.isnan(ratio), -np.inf, ratio).max(axis=-1)
    return np.where(np.isneginf(peak), np.nan, peak)


def summarize(p_target, p_english, entropy, iters: int = bootstrap.DEFAULT_ITERS,
              seed: int = bootstrap.DEFAULT_SEED) -> dict:
    """The numbers of one language pair from per-concept (n, points) arrays."""
    arrays = {"p_target": np.asarray(p_target, float), "p_english": np.asarray(p_english, float),
              "entropy": np.asarray(entropy, float)}
    n, points = arrays["p_target"].shape
    if n == 0:
        raise ValueError("no concepts to summarize")
    idx = _draws(n, iters, seed)
    means = {k: v.mean(axis=0) for k, v in arrays.items()}
    resampled = {k: np.stack([v[:, layer][idx].mean(axis=1) for layer in range(points)], axis=1)
                 for k, v in arrays.items()}  # (iters, points)
    ci = {k: [[float(lo), float(hi)] for lo, hi in np.quantile(r, [0.025, 0.975], axis=0).T]
          for k, r in resampled.items()}
    layers = middle_layers(points)
    value = float(_share(means["p_english"], means["p_target"], layers))
    share = None
    if np.isfinite(value):
        ratio = means["p_english"][layers] / (means["p_english"][layers] + means["p_target"][layers])
        draws = _share(resampled["p_english"], resampled["p_target"], layers)
        draws = draws[np.isfinite(draws)]
        lo, hi = np.quantile(draws, [0.025, 0.975])
        share = {"value": value, "ci": [float(lo), float(hi)], "se": float(draws.std(ddof=1)) if len(draws) > 1 else 0.0,
                 "layers": [layers[0], layers[-1]], "peak_layer": int(layers[int(np.nanargmax(ratio))])}
    return {"n": int(n), **{k: [float(x) for x in v] for k, v in means.items()}, "ci": ci, "english_share": share}


def ci_signature(iters: int = bootstrap.DEFAULT_ITERS, seed: int = bootstrap.DEFAULT_SEED) -> str:
    return f"{bootstrap.signature(iters, seed)}|over:concepts"
