"""``lm-eval-ext consistency RUN_DIR``: the cross-lingual consistency numbers of the
``xlc_<family>`` tasks, computed after the fact from the samples logs of the
per-language tasks of a run (``mgsm_native_cot_<lang>`` ...).

Same definitions and code as the task (`metrics.consistency.compute`); on the
same items and replies the numbers are equal (tested). A per-language family is
every task of a family's consistency adapter (`families.base.Parallel`:
``per_language_tasks``, e.g. MGSM's ``mgsm_native_cot_<lang>``, ``mgsm_en_cot_<lang>``,
``mgsm_direct_<lang>``; XQuAD's ``xquad_<lang>``) with a samples log in the run.
Answers are the logged extracted answers (``filtered_resps``) of each filter;
correctness is recomputed with the family's scorer; fidelity is the logged
``lang_fidelity`` (None, or absent in older runs = undecidable). Languages missing from the run are
named and left out; a pair is computed over the items in both logs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from lm_eval_ext import families
from lm_eval_ext.formats.run_folder import Problem, first_response, read_samples
from lm_eval_ext.reporting import runs
from lm_eval_ext.metrics.consistency import SUMMARY_METRICS, Record, compute


def _answer(sample: dict) -> str:
    return first_response(sample.get("filtered_resps")) or ""


def records_from_samples(path: Path, source: str, problems: list) -> dict[str, list[Record]]:
    """{filter: [Record]} of one per-language samples log of the family `source`."""
    adapter = families.get(source).parallel
    out: dict[str, list[Record]] = {}
    for s in read_samples(path, problems):
        doc = s.get("doc") or {}
        try:
            item, lang = adapter.item_id(doc), adapter.doc_lang(doc)
        except (KeyError, TypeError, ValueError):
            item = lang = None
        if item is None or not lang:
            problems.append(Problem(str(path), f"sample without the item id or language of {source} docs; skipped"))
            continue
        answer = _answer(s)
        fid = s.get("lang_fidelity")
        out.setdefault(s.get("filter", "none"), []).append(Record(
            item, lang, answer, bool(adapter.correct(doc, answer)),
            float(fid) if isinstance(fid, (int, float)) else None,
        ))
    return out


def posthoc(paths, problems: list | None = None) -> list[dict]:
    """One entry per (run, per-language family) found: run, family, languages,
    missing languages, and {filter: {metric: value}}."""
    problems = [] if problems is None else problems
    loaded, _ = runs.load_runs(paths, problems)
    found = []
    for run in loaded:
        for fam in families.parallel_families():
            for prefix, pattern in fam.parallel.per_language_tasks.items():
                names = {lang: pattern.format(lang=lang) for lang in fam.languages}
                logs = {lang: run.samples[n] for lang, n in names.items() if n in run.samples}
                if not logs:
                    continue
                langs = tuple(lang for lang in fam.languages if lang in logs)
                missing = [lang for lang in fam.languages if lang not in logs]
                if missing:
                    problems.append(Problem(
                        str(run.path), f"{prefix}: no samples log for {', '.join(missing)}; "
                        f"consistency over {', '.join(langs)} only"))
                by_filter: dict[str, list] = {}
                for lang in langs:
                    for filt, recs in records_from_samples(logs[lang], fam.name, problems).items():
                        by_filter.setdefault(filt, []).extend(recs)
                if len(langs) < 2:
                    problems.append(Problem(str(run.path), f"{prefix}: fewer than two languages; nothing to compare"))
                    continue
                found.append({
                    "run": str(run.path), "model": run.model, "family": prefix, "source": fam.name,
                    "langs": list(langs), "missing_langs": missing,
                    "metrics": {f: compute(recs, langs, fam.parallel.equal) for f, recs in sorted(by_filter.items())},
                })
    return found


def _fmt(v: float) -> str:
    return "—" if v is None or math.isnan(v) else f"{100 * v:.1f}"


def to_markdown(found: list[dict]) -> str:
    lines = []
    for entry in found:
        langs = entry["langs"]
        for filt, m in entry["metrics"].items():
            lines += [f"## {entry['family']} ({filt}) — {entry['model']}", "",
                      f"run: `{entry['run']}`; languages: {' '.join(langs)}"
                      + (f"; missing: {' '.join(entry['missing_langs'])}" if entry["missing_langs"] else ""), ""]
            lines += ["| summary | value (%) |", "|---|---|"]
            lines += [f"| {k} | {_fmt(m[k])} |" for k in SUMMARY_METRICS if k in m]
            lines += ["", "| lang | accuracy | lang_fidelity |", "|---|---|---|"]
            lines += [f"| {x} | {_fmt(m[f'accuracy_{x}'])} | {_fmt(m[f'lang_fidelity_{x}'])} |" for x in langs]
            for kind in ("agreement", "consistency"):
                lines += ["", f"{kind} (%; symmetric, {'equal answers' if kind == 'agreement' else '|C1∩C2|/|C1∪C2|'})", "",
                          "| | " + " | ".join(langs) + " |", "|---" * (len(langs) + 1) + "|"]
                for a in langs:
                    cells = []
                    for b in langs:
                        if a == b:
                            cells.append("·")
                        else:
                            p, q = (a, b) if langs.index(a) < langs.index(b) else (b, a)
                            cells.append(_fmt(m.get(f"{kind}_{p}_{q}")))
                    lines.append(f"| {a} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def write_json(found: list[dict], path: Path) -> None:
    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    out = [{**e, "metrics": {f: {k: clean(v) for k, v in m.items()} for f, m in e["metrics"].items()}} for e in found]
    Path(path).write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
