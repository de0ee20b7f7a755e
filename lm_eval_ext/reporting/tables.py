"""The numbers behind reports and the leaderboard: per family and metric, a
table of language rows x runs, with family means.

Definitions (also in reports/README.md):
- a row is a language (``de``) or a language pair (``de-en``: context/source
  first); its tier is low-resource when any language in it is (registry tiers);
- *English* rows are rows whose languages are all English; *non-English* rows
  are all the others;
- family means (mean over rows, unweighted, like our groups' ``weight_by_size:
  false``) are taken over the rows every run in the table has, so models are
  compared on the same languages; rows some run lacks are listed;
- the English-to-rest gap is the English row minus the mean of the non-English
  rows (positive: the model is better in English);
- the spread (parity) is the best row minus the worst row (>= 0).

`family_means` is the one computation of these means: the report's tables (over
the rows every run has), the leaderboard and the demo (over a run's own rows) call it.
`mean_statistics` states the same numbers as statistics of the rows' means, which
`mean_intervals` (the report) and the regression board (`compare`) bootstrap: items
resampled jointly across languages when the family's items are parallel
(`Family.item_key`, ``ci:cluster-item``), else each language's own items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lm_eval_ext import languages
from lm_eval_ext.formats.run_folder import Problem, item_scores
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting.rows import is_english, lang_sort_key, row_key, tier_of
from lm_eval_ext.reporting.runs import Run

# A family of more than MANY_ROWS rows that each pair a language with English (FLORES-200's 406
# directions) is shown by its means, ranked and sortable rows (report) and by its means and groups
# (leaderboard, unless --per-language); other families keep a row (column) per language.
MANY_ROWS = 40


def is_long_tail(rows) -> bool:
    """Whether a family's language rows call for the long-tail view (`MANY_ROWS`)."""
    rows = [r for r in rows if r]
    return len(rows) > MANY_ROWS and all(len(r) == 2 and "en" in r and r[0] != r[1] for r in rows)
HELPER_METRIC_SUFFIXES = ("_non_en",)  # per-item helpers of group aggregates; not shown per language
# shares that qualify other numbers (how many replies were undecidable or needed cleaning): tabled,
# never plotted against a score
BOOKKEEPING_METRICS = ("lang_undecidable", "reply_cleaned", "scored_replies", "unfinished_reasoning")
MEAN_KINDS = ("all", "high", "low", "non_en", "gap_en", "spread")
PARITY_KINDS = ("spread", "gap_en")  # how unequal the languages are (compare --gate parity)
MEAN_LABELS = {
    "all": "mean, all languages",
    "high": "mean, high-resource",
    "low": "mean, low-resource",
    "non_en": "mean, non-English",
    "gap_en": "English − rest (gap)",
    "spread": "best − worst language (spread)",
}


def metric_label(key: str) -> str:
    name, _, filt = key.partition(",")
    return name if filt in ("", "none") else f"{name} ({filt})"


def metric_column(key: str) -> str:
    """``exact_match:strict-match``; ``acc`` for lm-eval's ``none`` filter."""
    name, _, filt = key.partition(",")
    return name if filt in ("", "none") else f"{name}:{filt}"


@dataclass
class Table:
    family: str
    title: str
    metric: str  # metric key "name,filter"
    runs: list[Run]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    cells: dict = field(default_factory=dict)  # (langs, run index) -> Cell
    common: list[tuple[str, ...]] = field(default_factory=list)
    partial: dict = field(default_factory=dict)  # langs -> [labels of runs that have it]
    means: dict = field(default_factory=dict)  # (kind, run index) -> float
    scale: float = 1.0
    higher_is_better: bool = True
    is_pair: bool = False

    def value(self, langs, i):
        cell = self.cells.get((langs, i))
        return None if cell is None else cell.score.value


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def family_means(values: dict) -> dict:
    """{kind: mean or None} for MEAN_KINDS over the rows ``{langs: value}`` with languages,
    summed in the given order: all, high- and low-resource, non-English, the English
    row minus the non-English mean, and the best minus the worst row (two rows or more)."""
    rows = {r: v for r, v in values.items() if r}
    non_en = _mean([v for r, v in rows.items() if not is_english(r)])
    en = [v for r, v in rows.items() if is_english(r)]
    present = [v for v in rows.values() if v is not None]
    return {
        "all": _mean(rows.values()),
        "high": _mean([v for r, v in rows.items() if tier_of(r) == languages.HIGH]),
        "low": _mean([v for r, v in rows.items() if tier_of(r) == languages.LOW]),
        "non_en": non_en,
        "gap_en": (en[0] - non_en) if en and non_en is not None else None,
        "spread": (max(present) - min(present)) if len(present) > 1 else None,
    }


def mean_statistics(rows: list[tuple[str, ...]]) -> dict:
    """{kind: statistic} of `family_means`, as functions of the rows' means (in `rows` order)
    for `bootstrap.rows_bootstrap`; a kind without rows to stand on is left out."""
    n = len(rows)
    english = [is_english(r) for r in rows]
    out = {"all": bootstrap.weighted([1 / n] * n)} if n else {}
    for kind, selected in (("high", [tier_of(r) == languages.HIGH for r in rows]),
                           ("low", [tier_of(r) == languages.LOW for r in rows]),
                           ("non_en", [not e for e in english])):
        if any(selected):
            out[kind] = bootstrap.weighted([s / sum(selected) for s in selected])
    n_non_en = n - sum(english)
    if any(english) and n_non_en:
        first_en = english.index(True)
        out["gap_en"] = bootstrap.weighted([(1.0 if i == first_en else 0.0) if e else -1 / n_non_en
                                            for i, e in enumerate(english)])
    if n > 1:
        out["spread"] = bootstrap.spread([True] * n)
    return out


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    method: str  # bootstrap.CLUSTER_ITEM, bootstrap.INDEPENDENT, or STDERR_INDEPENDENT


STDERR_INDEPENDENT = "stderr-independent-languages"


def item_key_of(run: Run, task: str):
    """The function doc -> item key of a task's family when its items are parallel, else None."""
    info = run.tasks.get(task)
    family = info.ours if info is not None else None
    return family.item_key if family is not None else None


def keyed_item_scores(lines: list[dict], metric: str, item_key) -> dict | None:
    """{item key: score} of logged samples (`item_scores`), keyed by the family's item key
    (the same item in every language) when it has one, else by doc_id."""
    if item_key is None:
        return item_scores(lines, metric)

    def key(line):
        try:
            return item_key(line.get("doc") or {})
        except (KeyError, TypeError, ValueError):  # an older log without the field: its position
            return str(line.get("doc_id"))

    return item_scores(lines, metric, key=key)


def mean_intervals(t: "Table", i: int, lines_of, iters: int = bootstrap.DEFAULT_ITERS,
                   seed: int = bootstrap.DEFAULT_SEED) -> dict:
    """{kind: Interval} of run `i`'s family means in table `t` (over ``t.common``): a
    bootstrap of the per-item scores in the samples logs (``lines_of(run, task)``), items
    resampled jointly across languages when every row's family has parallel items, else
    per language; without per-item scores in every row, a normal interval from the rows'
    stderrs (languages independent); {} when neither exists."""
    rows = [r for r in t.common if r]
    if not rows or (not all(t.rows) and len(t.rows) == 1):
        return {}
    run = t.runs[i]
    cells = [t.cells[(r, i)] for r in rows]
    keys = [item_key_of(run, c.task) for c in cells]
    clustered = all(k is not None for k in keys)
    scores = {}
    for r, cell, key in zip(rows, cells, keys):
        s = keyed_item_scores(lines_of(run, cell.task), cell.metric, key) if cell.sample_metric else None
        if not s:
            scores = None
            break
        scores[r] = s
    stats = mean_statistics(rows)
    if scores is not None:
        try:
            est = bootstrap.rows_bootstrap(scores, stats, clustered, iters=iters, seed=seed)
        except ValueError:
            est = {}
        method = bootstrap.CLUSTER_ITEM if clustered else bootstrap.INDEPENDENT
        return {kind: Interval(e.lo, e.hi, method) for kind, e in est.items()}
    stderrs = [c.score.stderr for c in cells]
    if any(se is None for se in stderrs):
        return {}
    values = np.array([[c.score.value for c in cells]])
    out = {}
    for kind, f in stats.items():
        value = t.means.get((kind, i))
        if value is None:
            continue
        if kind == "spread":  # the best and the worst row of the observed means, independent
            best, worst = int(values[0].argmax()), int(values[0].argmin())
            se = math.hypot(stderrs[best], stderrs[worst])
        else:  # a weighted sum: the weights are the statistic of unit vectors
            weights = f(np.eye(len(rows)))
            se = math.sqrt(sum((w * s) ** 2 for w, s in zip(weights, stderrs)))
        out[kind] = Interval(value - 1.96 * se, value + 1.96 * se, STDERR_INDEPENDENT)
    return out


def build_tables(runs: list[Run], problems: list[Problem] | None = None, with_languages_only: bool = False) -> list[Table]:
    """One table per (family, metric key), in family order, the family's primary metric first."""
    fam_metrics: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for run in runs:
        for cell in run.cells:
            if with_languages_only and not cell.langs:
                continue
            if cell.metric.partition(",")[0].endswith(HELPER_METRIC_SUFFIXES):
                continue
            keys = fam_metrics.setdefault(cell.family, [])
            if cell.metric not in keys:
                keys.append(cell.metric)
        for name, info in run.tasks.items():
            if info.is_group and info.alias and name not in titles:
                titles[name] = info.alias
    tables: list[Table] = []
    by_key: dict[tuple[str, str], Table] = {}
    for family in sorted(fam_metrics, key=lambda f: (not any(c.langs for r in runs for c in r.cells if c.family == f), f)):
        for metric in fam_metrics[family]:
            t = Table(family, titles.get(family, family), metric, runs)
            by_key[(family, metric)] = t
            tables.append(t)
    for i, run in enumerate(runs):
        for cell in run.cells:
            t = by_key.get((cell.family, cell.metric))
            if t is not None:
                t.cells[(cell.langs, i)] = cell
                hib = run.tasks[cell.task].higher_is_better.get(cell.metric.partition(",")[0])
                if hib is False:
                    t.higher_is_better = False
    for t in tables:
        _finish(t, problems)
    return tables


def _finish(t: Table, problems) -> None:
    rows = {langs for langs, _ in t.cells}
    t.rows = sorted(rows, key=lang_sort_key)
    t.is_pair = any(len(r) == 2 for r in t.rows)
    n = len(t.runs)
    only_in: dict[tuple, list[str]] = {}
    undefined: dict[tuple, list[str]] = {}
    for r in t.rows:
        have = tuple(i for i in range(n) if (r, i) in t.cells)
        if len(have) == n:
            t.common.append(r)
            continue
        t.partial[r] = [t.runs[i].label for i in have]
        # a run with the row but no number for this metric (NaN in its results) has the language
        why = {i: t.runs[i].undefined.get((t.family, r, t.metric)) for i in range(n) if i not in have}
        for i, reason in why.items():
            if reason:
                undefined.setdefault((i, reason), []).append(row_key(r))
        missing = tuple(i for i, reason in why.items() if not reason)
        if missing:
            present = tuple(i for i in range(n) if i not in missing)
            only_in.setdefault((present, missing), []).append(row_key(r))
    if problems is not None:
        for (present, missing), rows in only_in.items():
            problems.append(Problem(
                t.family,
                f"language(s) {', '.join(rows)} present only in {', '.join(t.runs[i].label for i in present)} "
                f"(missing in {', '.join(t.runs[i].label for i in missing)}); shown, but left out of the family means",
            ))
        for (i, reason), rows in undefined.items():
            problems.append(Problem(
                t.family,
                f"{metric_label(t.metric)} is undefined for {', '.join(rows)} in {t.runs[i].label} ({reason}); "
                f"left out of the {metric_label(t.metric)} means, kept in the means of the other metrics",
            ))
    values = [c.score.value for c in t.cells.values()]
    t.scale = 100.0 if values and all(0.0 <= v <= 1.0 for v in values) else 1.0
    if not all(t.rows) and len(t.rows) == 1:
        return  # a task without languages: no means
    for i in range(n):
        means = family_means({r: t.value(r, i) for r in t.common if r})
        for kind in MEAN_KINDS:
            t.means[(kind, i)] = means[kind]
