"""The file ``lm-eval-ext latent-language`` writes into a run folder: the one definition of its format.

``latent_language_<date>.json`` (`LatentLanguageResults`), beside (or instead of) lm-eval's
results files in ``OUT/<model>/``:

- ``format`` ``"lm-eval-ext/latent-language"``, ``format_version`` (`VERSION`);
- ``model``: the model identity as lm-eval records it (``model`` = the backend, ``model_args``,
  ``model_name``; `lm_eval_ext.model_identity`), so the run-folder reader joins the file to the
  lm-eval run of the same model, or makes a run of it;
- ``layers``: the points the lens reads, embeddings included (decoder layers + 1);
- ``signature``: how the numbers were made (method, prompt template, concept source and version,
  tokenizer), a `lm_eval_ext.signature.Signature` string; the lens (which modules decode a layer)
  is in ``settings`` (a fact of the model's architecture, shown, not compared);
- ``task`` (translation, repetition, cloze), ``concepts`` (source, babel and CLDR versions, the
  pool's count per category), ``settings``, ``date`` (seconds since the epoch), ``lm_eval_ext_version``;
- ``pairs``: ``{"<source>-><target>": PairResult}`` (source = target for repetition and cloze):
  per layer the mean over concepts of ``p_target``, ``p_english`` and ``entropy`` (bits), ``ci``
  (``{name: [[low, high] per layer]}``, bootstrap 95%), ``n`` concepts, ``english_share`` (the
  summary number with its CI, `lm_eval_ext.latent.summary`; null when no intermediate layer puts
  1% on the two words), ``middle_third`` (the same over the middle third of the depth), what the
  tokenizer filter ``dropped`` by reason, the ``kept`` count per category, ``shots``, one ``example``
  prompt, ``shared``: the concepts with tokens that are prefixes of both words (counted for
  neither language: the masses are exclusive, `lm_eval_ext.latent.tokens.exclusive_ids`).

`write` writes atomically; `read` checks every pair (lists of the right length, probabilities in
[0, 1], CIs as pairs) and turns a pair of the wrong shape into a `Problem` (skipped, the rest used)
and a file it cannot use at all into a `Problem` and None.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lm_eval_ext import files, model_identity
from lm_eval_ext.formats.run_folder import (DATE_PATTERN, NotRegularFile, Problem, number, open_regular, type_name,
                                            walk)

FORMAT = "lm-eval-ext/latent-language"
VERSION = 1
PREFIX = "latent_language_"
NAME_RE = re.compile(rf"^latent_language_(?P<date>{DATE_PATTERN})\.json$")
CURVES = ("p_target", "p_english", "entropy")


def file_name(stamp: str) -> str:
    return f"{PREFIX}{stamp}.json"


def pair_key(source: str, target: str) -> str:
    return f"{source}->{target}"


@dataclass
class PairResult:
    source: str
    target: str
    n: int
    p_target: list
    p_english: list
    entropy: list
    ci: dict  # {curve: [[low, high] per layer]}
    english_share: dict | None = None  # {value, ci: [low, high], se, layers: [first, last], peak_layer, floor}
    middle_third: dict | None = None  # the same statistic over the middle third of the depth only
    dropped: dict = field(default_factory=dict)
    kept: dict = field(default_factory=dict)
    shots: int = 0
    example: str = ""
    shared: int = 0  # concepts with tokens that are prefixes of both words (counted for neither)

    @property
    def key(self) -> str:
        return pair_key(self.source, self.target)

    @property
    def langs(self) -> tuple[str, ...]:
        """The language row: (source, target) for a translation, (target,) for a monolingual prompt."""
        return (self.target,) if self.source == self.target else (self.source, self.target)


@dataclass
class LatentLanguageResults:
    model: dict
    layers: int
    signature: str
    task: str
    pairs: dict  # {key: PairResult}
    concepts: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    date: float | None = None
    lm_eval_ext_version: str = ""
    format_version: int = VERSION

    def to_json(self) -> dict:
        return {"format": FORMAT, "format_version": VERSION, "model": self.model, "layers": self.layers,
                "signature": self.signature, "task": self.task, "concepts": self.concepts,
                "settings": self.settings, "date": self.date, "lm_eval_ext_version": self.lm_eval_ext_version,
                "pairs": {k: asdict(p) for k, p in self.pairs.items()}}

    def results_header(self) -> dict:
        """The run-level fields of an lm-eval results document this file stands for (``config``:
        the backend, model args and what lm-eval's model info adds, ``model_name``, ``date``), so
        that `model_identity` reads the file as it reads a results file."""
        config = {k: v for k, v in self.model.items() if k != "model_name"}
        return {"config": config, "model_name": self.model.get("model_name"), "date": self.date,
                "lm_eval_ext_version": self.lm_eval_ext_version}

    @property
    def model_identity(self) -> model_identity.ModelIdentity:
        return model_identity.of_results(self.results_header())

    @property
    def model_name(self) -> str:
        return self.model_identity.name


def write(path: Path, doc: LatentLanguageResults) -> None:
    files.write_atomic(path, json.dumps(doc.to_json(), indent=1, ensure_ascii=False))


def find(path: Path) -> dict[Path, list[Path]]:
    """{folder: its latent-language files, oldest first} under `path` (a folder, or one such file)."""
    path = Path(path)
    if path.is_file():
        return {path.parent: [path]} if NAME_RE.match(path.name) else {}
    if not path.is_dir():
        return {}
    out: dict[Path, list[Path]] = {}
    for f in walk(path, []):  # the folders the run-folder reader walks (its problems are its to report)
        if NAME_RE.match(f.name):
            out.setdefault(f.parent, []).append(f)
    return {d: sorted(fs, key=lambda p: p.name) for d, fs in sorted(out.items())}


# ------------------------------------------------------------------ reading
def _finite(x) -> bool:
    return number(x) is not None and math.isfinite(x)


def _curve_problem(name: str, values, layers: int, low: float, high: float) -> str | None:
    if not isinstance(values, list) or len(values) != layers:
        return f"'{name}' is not a list of {layers} numbers (one per layer)"
    bad = [i for i, v in enumerate(values) if not (_finite(v) and low - 1e-6 <= v <= high + 1e-6)]
    if bad:
        return f"'{name}' layer {bad[0]} is {values[bad[0]]!r}, not a number in [{low:g}, {high:g}]"
    return None


def _pair_problem(key: str, pair, layers: int) -> str | None:
    if not isinstance(pair, dict):
        return f"is {type_name(pair)}, not an object"
    if not isinstance(pair.get("source"), str) or not isinstance(pair.get("target"), str):
        return "has no 'source' and 'target' language codes"
    if key != pair_key(pair["source"], pair["target"]):
        return f"is named {key!r} but holds {pair_key(pair['source'], pair['target'])!r}"
    n = pair.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return f"'n' is {n!r}, not a positive count"
    for name in CURVES:
        why = _curve_problem(name, pair.get(name), layers, 0.0, math.inf if name == "entropy" else 1.0)
        if why:
            return why
    ci = pair.get("ci")
    if not isinstance(ci, dict):
        return "'ci' is not an object"
    for name, bands in ci.items():
        if not isinstance(bands, list) or len(bands) != layers or not all(
                isinstance(b, list) and len(b) == 2 and all(_finite(x) for x in b) for b in bands):
            return f"'ci.{name}' is not a list of {layers} [low, high] pairs"
    for name in ("english_share", "middle_third"):
        share = pair.get(name)
        if share is None:
            continue
        if not isinstance(share, dict) or not _finite(share.get("value")) or not 0 <= share["value"] <= 1 or not (
                isinstance(share.get("ci"), list) and len(share["ci"]) == 2 and all(_finite(x) for x in share["ci"])):
            return f"'{name}' is {share!r}, not an object with a value in [0, 1] and a [low, high] ci"
        if share.get("se") is not None and not _finite(share["se"]):
            return f"'{name}.se' is {share['se']!r}, not a number"
    for name in ("dropped", "kept"):
        if not isinstance(pair.get(name, {}), dict):
            return f"'{name}' is not an object"
    return None


def read(path: Path, problems: list[Problem]) -> LatentLanguageResults | None:
    """The file at `path`, pairs of the wrong shape reported and skipped; None (and a Problem) when
    the file cannot be used at all."""
    where = str(path)
    try:
        with open_regular(path) as fh:  # never a FIFO named like a latent-language file: it would block
            doc = json.loads(fh.read().decode("utf-8"))
    except NotRegularFile as err:
        problems.append(Problem(where, f"{err}; skipped"))
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        problems.append(Problem(where, f"latent-language results cannot be read ({err}); skipped"))
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("pairs"), dict):
        problems.append(Problem(where, "no 'pairs' object: not a latent-language results file; skipped"))
        return None
    version = doc.get("format_version")
    if doc.get("format") != FORMAT or isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        problems.append(Problem(where, f"format {doc.get('format')!r} version {version!r} is not one this "
                                       f"lm-eval-ext reads ({FORMAT} up to {VERSION}); skipped"))
        return None
    layers = doc.get("layers")
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
        problems.append(Problem(where, f"'layers' is {layers!r}, not a count of at least 2; skipped"))
        return None
    model = doc.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("model"), str):
        problems.append(Problem(where, "'model' is not an object naming the model backend; skipped"))
        return None
    for key in ("signature", "task"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            problems.append(Problem(where, f"'{key}' is {doc.get(key)!r}, not a text; skipped"))
            return None
    pairs = {}
    known = set(PairResult.__dataclass_fields__)
    for key, pair in doc["pairs"].items():
        why = _pair_problem(key, pair, layers)
        if why:
            problems.append(Problem(where, f"pairs.{key} {why}; skipped"))
            continue
        pairs[key] = PairResult(**{k: v for k, v in pair.items() if k in known})
    if not pairs:
        problems.append(Problem(where, "no usable language pair; skipped"))
        return None
    date = doc.get("date")
    return LatentLanguageResults(
        model=model, layers=layers, signature=doc["signature"], task=doc["task"], pairs=pairs,
        concepts=doc.get("concepts") if isinstance(doc.get("concepts"), dict) else {},
        settings=doc.get("settings") if isinstance(doc.get("settings"), dict) else {},
        date=float(date) if _finite(date) else None,
        lm_eval_ext_version=str(doc.get("lm_eval_ext_version") or ""), format_version=version)
