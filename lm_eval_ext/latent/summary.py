"""Per-layer means over concepts with bootstrap CIs, and the English-latent share.

Every statistic comes from one set of bootstrap draws over the concepts (percentile method, the
draws `metrics.bootstrap.bootstrap_ci` makes for the same seed and count, resampling concepts
jointly across layers), so a per-layer CI here is exactly `bootstrap_ci` of that layer's values
and the CI of a statistic of the whole curve resamples whole concepts.

**English-latent share** (one number per language pair): the peak, over the intermediate layers
(neither the embeddings nor the output layer) where the two mean masses together reach `FLOOR`
(1% of the next-token distribution), of P̄(en) / (P̄(en) + P̄(target)), P̄ the mean over concepts
at that layer. Undefined (None) when no intermediate layer reaches the floor. 0.5: no layer before
the output favours English over the target; near 1: some layer puts (almost) all of the two
words' mass on English, as the paper found for Llama 2's middle layers; near 0: the target only.

Why not the middle third of the depth (the issue's first proposal, kept as ``middle_third``):
where the English phase sits depends on the model. On SmolLM2-135M (BENCHMARKS.md) the middle
layers put under 0.1% on either word (their entropy is 0.1-0.5 bits, on other tokens) and English
appears at relative depth 0.8-0.97, just before the output layer writes the target; a fixed
window reads noise there (1e-5 against 1e-10 gives a "share" of 1.0), hence the floor too. The
output layer is left out because it is the answer, the embeddings because they are the input
token. The ratio of the means, not the mean of per-concept ratios: a concept with both masses near
0 has an undefined ratio. A share rather than P(en) alone: models differ in how much mass the lens
gives either word at all.
"""

from __future__ import annotations

import numpy as np

from lm_eval_ext.metrics import bootstrap

FLOOR = 0.01  # least mean mass on the two words for a layer's share to count
MIDDLE = (1 / 3, 2 / 3)


def intermediate_layers(points: int) -> list[int]:
    """The layers between the embeddings (0) and the output layer (points-1)."""
    return list(range(1, points - 1))


def middle_layers(points: int) -> list[int]:
    """The layers (0 = embeddings .. points-1) whose relative depth lies in the middle third."""
    last = max(points - 1, 1)
    return [i for i in range(points) if MIDDLE[0] - 1e-9 <= i / last <= MIDDLE[1] + 1e-9]


def _draws(n: int, iters: int, seed: int) -> np.ndarray:
    """(iters, n) concept indices: the draws `bootstrap.bootstrap_ci` makes for n values."""
    return np.concatenate(list(bootstrap.resample_indices(n, iters, seed)))


def share_curve(p_en: np.ndarray, p_tgt: np.ndarray, floor: float = FLOOR) -> np.ndarray:
    """P(en) / (P(en) + P(target)) of mean curves (..., points); NaN where they hold under `floor`
    (and where both are 0)."""
    total = p_en + p_tgt
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((total >= floor) & (total > 0), p_en / np.where(total > 0, total, 1.0), np.nan)


def _peak(p_en: np.ndarray, p_tgt: np.ndarray, layers: list[int], floor: float) -> np.ndarray:
    """(...,) the peak of the share curve over `layers`; NaN where no layer reaches the floor."""
    if not layers:
        return np.full(p_en.shape[:-1], np.nan)
    ratio = share_curve(p_en[..., layers], p_tgt[..., layers], floor)
    peak = np.where(np.isnan(ratio), -np.inf, ratio).max(axis=-1)
    return np.where(np.isneginf(peak), np.nan, peak)


def _estimate(means: dict, resampled: dict, layers: list[int], floor: float) -> dict | None:
    value = float(_peak(means["p_english"], means["p_target"], layers, floor))
    if not np.isfinite(value):
        return None
    draws = _peak(resampled["p_english"], resampled["p_target"], layers, floor)
    draws = draws[np.isfinite(draws)]
    lo, hi = np.quantile(draws, [0.025, 0.975]) if len(draws) else (value, value)
    curve = share_curve(means["p_english"][layers], means["p_target"][layers], floor)
    mass = means["p_english"][layers] + means["p_target"][layers]
    # the peak layer: of the layers at the peak share (ties, e.g. 1.0 wherever the target has no mass), the
    # one where the two words hold the most mass
    peak = int(np.argmax(np.where(np.nan_to_num(curve, nan=-1.0) >= value - 1e-9, mass, -1.0)))
    return {"value": value, "ci": [float(lo), float(hi)], "se": float(draws.std(ddof=1)) if len(draws) > 1 else 0.0,
            "layers": [layers[0], layers[-1]], "peak_layer": int(layers[peak]),
            "p_english_at_peak": float(means["p_english"][layers[peak]]),
            "p_target_at_peak": float(means["p_target"][layers[peak]]), "floor": floor,
            "defined_draws": int(len(draws))}


def summarize(p_target, p_english, entropy, iters: int = bootstrap.DEFAULT_ITERS,
              seed: int = bootstrap.DEFAULT_SEED, floor: float = FLOOR) -> dict:
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
    return {"n": int(n), **{k: [float(x) for x in v] for k, v in means.items()}, "ci": ci,
            "english_share": _estimate(means, resampled, intermediate_layers(points), floor),
            "middle_third": _estimate(means, resampled, middle_layers(points), floor)}


def ci_signature(iters: int = bootstrap.DEFAULT_ITERS, seed: int = bootstrap.DEFAULT_SEED) -> str:
    return f"{bootstrap.signature(iters, seed)}|over:concepts"


def share_rule(floor: float = FLOOR) -> str:
    return (f"peak over the intermediate layers (embeddings and output layer excluded) with mean P(en) + P(target) "
            f">= {floor:g} of mean P(en) / (mean P(en) + mean P(target))")
