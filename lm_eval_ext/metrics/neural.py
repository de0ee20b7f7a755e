"""COMET and BLEURT as pure scoring code: settings, checkpoint loading, batched scoring.

Loaded by path in a side environment (`lm_eval_ext.runtime.neural_worker`), so this module
imports nothing of lm_eval_ext. What a run keeps for the whole process (one scorer per
metric, the side-environment worker, the score cache, the lm-eval aggregations) lives in
`lm_eval_ext.runtime.neural`.

Settings (environment; one per metric, read when the metric first runs):

    LM_EVAL_EXT_COMET  = MODEL[;batch_size=N][;encoder=PATH]   default Unbabel/wmt22-comet-da
    LM_EVAL_EXT_BLEURT = MODEL[;batch_size=N]                  default lucadiliello/BLEURT-20-D12
                         (``off`` switches a metric off; batch_size defaults to 64
                         on a GPU, 16 on CPU: see BENCHMARKS.md)

MODEL is a hub id or a local folder (COMET: the folder holding
``checkpoints/model.ckpt`` and ``hparams.yaml``; BLEURT: a transformers folder).
COMET checkpoints name their encoder in ``hparams.yaml`` (``pretrained_model:
xlm-roberta-large``) and COMET fetches that encoder's config and tokenizer from
the hub even though the weights come from the checkpoint; ``encoder=PATH``
points it at a local copy instead (a folder with the XLM-R config and tokenizer).

Scoring: segments sorted by length (less padding), cut into batches of
``batch_size`` and run under ``torch.inference_mode`` on the GPU when there is one
(else CPU), calling the checkpoint's own ``prepare_for_inference``/``predict_step``
(COMET) or the model's logits (BLEURT), so scores equal ``comet``'s ``predict``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULTS = {"comet": "Unbabel/wmt22-comet-da", "bleurt": "lucadiliello/BLEURT-20-D12"}
DEFAULT_BATCH_SIZE = {"cuda": 64, "cpu": 16}
NAN = float("nan")
METRICS = ("comet", "bleurt")


class MetricUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Setting:
    metric: str
    model: str
    batch_size: int | None = None  # None: by the device the scorer runs on
    encoder: str | None = None

    @property
    def env(self) -> str:
        return f"LM_EVAL_EXT_{self.metric.upper()}"


def setting(metric: str) -> Setting | None:
    """The metric's setting from the environment; None when switched off."""
    env = f"LM_EVAL_EXT_{metric.upper()}"
    raw = os.environ.get(env, "").strip() or DEFAULTS[metric]
    if raw.lower() in ("off", "0", "none", "false"):
        return None
    model, *options = [p.strip() for p in raw.split(";")]
    kw = {"batch_size": None, "encoder": None}
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or key not in kw or (key == "encoder" and metric != "comet"):
            raise ValueError(f"{env}={raw!r}: unknown option {opt!r} (MODEL[;batch_size=N]"
                             f"{'[;encoder=PATH]' if metric == 'comet' else ''})")
        kw[key] = int(value) if key == "batch_size" else value
    if kw["batch_size"] is not None and kw["batch_size"] < 1:
        raise ValueError(f"{env}: batch_size must be >= 1")
    return Setting(metric, model, **kw)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _to(batch, device):
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


# ------------------------------------------------------------------- scorers
class _Scorer:
    metric = ""

    def __init__(self, cfg: Setting):
        self.cfg = cfg
        self.device = device_name()
        self.batch_size = cfg.batch_size or DEFAULT_BATCH_SIZE[self.device]
        self.model_calls = 0  # batches run (tests: a cached re-score makes none)

    def signature(self) -> str:
        # Written by hand, not with `lm_eval_ext.signature.Signature`: this module is loaded by
        # path in the side environment, where lm_eval_ext is not importable. The string keeps
        # Signature's grammar (name:value fields joined by "|", none inside a value), so
        # `Signature.parse` reads it back field by field (tests/test_signature.py).
        return (f"{self.metric}:{self.cfg.model}|batch:{self.batch_size}|device:{self.device}"
                f"|system:mean-x100|{self.versions()}")

    def score_batch(self, triples: list[tuple[str, str, str]]) -> list[float]:
        raise NotImplementedError

    def score(self, triples: list[tuple[str, str, str]]) -> list[float]:
        """Segment scores, in order: longest first, batch by batch."""
        order = sorted(range(len(triples)), key=lambda i: -max(len(t) for t in triples[i]))
        out = [NAN] * len(triples)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            self.model_calls += 1
            for i, s in zip(idx, self.score_batch([triples[i] for i in idx])):
                out[i] = float(s)
        return out


class CometScorer(_Scorer):
    metric = "comet"

    def __init__(self, cfg: Setting):
        super().__init__(cfg)
        self.model = load_comet(cfg.model, cfg.encoder).to(self.device).eval()

    def versions(self) -> str:
        import importlib.metadata as md

        enc = f"|encoder:{self.cfg.encoder}" if self.cfg.encoder else ""
        return f"comet:{md.version('unbabel-comet')}{enc}"

    def score_batch(self, triples):
        import torch

        samples = [{"src": s, "mt": h, "ref": r} for s, h, r in triples]
        with torch.inference_mode():
            batch = _to(self.model.prepare_for_inference(samples), self.device)
            return self.model.predict_step(batch)["scores"].float().cpu().tolist()


def comet_checkpoint(model: str) -> Path:
    """A hub id or local folder/file -> checkpoints/model.ckpt (no network when offline)."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        ckpt = path / "checkpoints" / "model.ckpt"
        if not ckpt.is_file():
            raise MetricUnavailable(f"COMET model folder {path} has no checkpoints/model.ckpt")
        return ckpt
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id=model, local_files_only=_offline())
    except Exception as err:
        raise MetricUnavailable(
            f"COMET checkpoint {model!r} is not available{' offline' if _offline() else ''} "
            f"({type(err).__name__}); download it (huggingface-cli download {model}) or set "
            f"LM_EVAL_EXT_COMET to a local folder"
        ) from None
    return Path(folder) / "checkpoints" / "model.ckpt"


def load_comet(model: str, encoder: str | None = None):
    """comet.load_from_checkpoint, with the encoder's config/tokenizer read from
    `encoder` (a local folder) instead of the hub when given."""
    import torch
    import yaml
    from comet.models import str2model

    ckpt = comet_checkpoint(model)
    hparams_file = ckpt.parents[1] / "hparams.yaml"
    if not hparams_file.is_file():
        raise MetricUnavailable(f"COMET checkpoint {ckpt}: hparams.yaml is missing from {hparams_file.parent}")
    hparams = yaml.safe_load(hparams_file.read_text(encoding="utf-8"))
    kwargs = {
        "checkpoint_path": ckpt,
        "load_pretrained_weights": False,
        "map_location": torch.device("cpu"),
        "strict": False,
        "local_files_only": _offline() or bool(encoder),
    }
    if hparams.get("layer_transformation") == "sparsemax_patch":
        kwargs["layer_transformation"] = "softmax"  # what comet.load_from_checkpoint does (comet >= 2.2.4)
    if encoder:
        kwargs["pretrained_model"] = encoder  # overrides the checkpoint's hparams
    try:
        return str2model[hparams["class_identifier"]].load_from_checkpoint(**kwargs)
    except OSError as err:
        enc = encoder or hparams.get("pretrained_model")
        raise MetricUnavailable(
            f"COMET encoder {enc!r} (config and tokenizer) could not be loaded ({str(err).splitlines()[0]}); "
            "set LM_EVAL_EXT_COMET='MODEL;encoder=/path/to/xlm-roberta-large'"
        ) from None


class BleurtScorer(_Scorer):
    metric = "bleurt"

    def __init__(self, cfg: Setting):
        super().__init__(cfg)
        from bleurt_pytorch import BleurtForSequenceClassification, BleurtTokenizer

        if not Path(cfg.model).expanduser().is_dir():
            from huggingface_hub import snapshot_download

            try:
                snapshot_download(repo_id=cfg.model, local_files_only=_offline())
            except Exception as err:
                raise MetricUnavailable(
                    f"BLEURT checkpoint {cfg.model!r} is not available{' offline' if _offline() else ''} "
                    f"({type(err).__name__}); download it (huggingface-cli download {cfg.model}) or set "
                    "LM_EVAL_EXT_BLEURT to a local folder"
                ) from None
        try:
            self.tokenizer = BleurtTokenizer.from_pretrained(cfg.model, local_files_only=_offline())
            self.model = BleurtForSequenceClassification.from_pretrained(
                cfg.model, local_files_only=_offline()).to(self.device).eval()
        except OSError as err:
            raise MetricUnavailable(
                f"BLEURT checkpoint {cfg.model!r} is not available{' offline' if _offline() else ''} "
                f"({str(err).splitlines()[0][:200]}); download it or set LM_EVAL_EXT_BLEURT to a local folder"
            ) from None
        self.max_length = min(512, self.model.config.max_position_embeddings)

    def versions(self) -> str:
        import importlib.metadata as md

        return f"bleurt-pytorch:{md.version('bleurt-pytorch')}"

    def score_batch(self, triples):
        import torch

        refs = [r for _, _, r in triples]
        hyps = [h for _, h, _ in triples]
        with torch.inference_mode():
            inputs = self.tokenizer(refs, hyps, padding="longest", truncation=True,
                                    max_length=self.max_length, return_tensors="pt")
            return self.model(**_to(dict(inputs), self.device)).logits.flatten().float().cpu().tolist()


_CLASSES = {"comet": CometScorer, "bleurt": BleurtScorer}
_PACKAGES = {"comet": ("comet", "unbabel-comet"), "bleurt": ("bleurt_pytorch", "bleurt-pytorch")}


def load_in_process(metric: str, cfg: Setting) -> _Scorer:
    import importlib.util

    module, dist = _PACKAGES[metric]
    if importlib.util.find_spec(module) is None:
        raise MetricUnavailable(
            f"package {dist} is not installed here; it pins transformers<5 and numpy<2, so in a modern "
            f"environment run it in a side environment: lm-eval-ext neural-env DIR, then "
            f"LM_EVAL_EXT_NEURAL_PYTHON=DIR/bin/python (README: Install)")
    try:
        return _CLASSES[metric](cfg)
    except MetricUnavailable:
        raise
    except Exception as err:  # a broken install must not cost the run its other metrics
        first = (str(err).splitlines() or [""])[0][:300]
        raise MetricUnavailable(f"{cfg.model!r} could not be loaded ({type(err).__name__}: {first})") from err


def package_versions(dists) -> dict:
    """{distribution: installed version or None}."""
    import importlib.metadata as md

    out = {}
    for dist in dists:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def system_score(scores: list[float]) -> float:
    """Mean segment score x 100 (COMET's system score, on BLEU's scale); an exact sum, so the
    same in any item order."""
    return 100.0 * math.fsum(scores) / len(scores)
