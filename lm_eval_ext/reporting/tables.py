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
  rows (positive: the model is better in English).

`family_means` is the one computation of these means: the report's tables (over
the rows every run has), the leaderboard and the demo (over a run's own rows) call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lm_eval_ext import languages
from lm_eval_ext.formats.run_folder import Problem
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
BOOKKEEPING_METRICS = ("lang_undecidable", "reply_cleaned")
MEAN_KINDS = ("all", "high", "low", "non_en", "gap_en")
MEAN_LABELS = {
    "all": "mean, all languages",
    "high": "mean, high-resource",
    "low": "mean, low-resource",
    "non_en": "mean, non-English",
    "gap_en": "English − rest (gap)",
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
    summed in the given order: all, high- and low-resource, non-English, and the English
    row minus the non-English mean."""
    rows = {r: v for r, v in values.items() if r}
    non_en = _mean([v for r, v in rows.items() if not is_english(r)])
    en = [v for r, v in rows.items() if is_english(r)]
    return {
        "all": _mean(rows.values()),
        "high": _mean([v for r, v in rows.items() if tier_of(r) == languages.HIGH]),
        "low": _mean([v for r, v in rows.items() if tier_of(r) == languages.LOW]),
        "non_en": non_en,
        "gap_en": (en[0] - non_en) if en and non_en is not None else None,
    }


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
