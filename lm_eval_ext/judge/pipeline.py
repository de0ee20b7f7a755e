"""``lm-eval-ext judge``: judge every logged sample of a run folder.

Two passes over the items: the first asks each prompt; the replies that do not
parse are asked once more with the reply and a format reminder appended. Every
reply goes to the cache the moment it arrives, so a killed job resumes from the
cache and a finished one reruns with zero calls.

Outputs, beside lm-eval's files in the run folder (names sort by date like lm-eval's):

- ``judge_results_<date>.json``: per task (= per language or pair) and
  protocol: mean, bootstrap 95% CI, stderr, n, parse failures (with their doc
  ids), failed/not-judged items, the reference metric's rank correlation with
  the judge, and the provenance (judge, sampling, template versions, cache);
- ``judge_samples_<task>_<date>.jsonl``: one line per item with the judge's
  replies, the parsed verdict and the reference metric.

The file formats are `lm_eval_ext.formats.judge_file`; the pairwise job is `judge.pairwise`,
the command `judge.command`.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lm_eval_ext import __version__, families, files
from lm_eval_ext.formats import judge_file
from lm_eval_ext.formats.judge_file import JudgeEntry, JudgeResults
from lm_eval_ext.formats.run_folder import Problem, item_scores
from lm_eval_ext.judge import protocols as P
from lm_eval_ext.judge.client import BudgetExhausted, JudgeCache, Request, cache_key, safe_url
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting.rows import row_key
from lm_eval_ext.reporting.runs import Run, sample_lines

OK, PARSE_FAILURE, REQUEST_FAILED, NOT_JUDGED, INVALID = "ok", "parse_failure", "request_failed", "not_judged", "invalid"


def now_stamp() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")


def spearman(x, y) -> float | None:
    """Spearman's rho (average ranks for ties); None when either side is constant or n < 3."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None

    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for val in np.unique(v):  # ties get their average rank
            m = v == val
            r[m] = r[m].mean()
        return r

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


# ----------------------------------------------------------------- requests
class Resolver:
    """Answers requests from the cache, then the backend; caches each reply on arrival."""

    def __init__(self, backend, cache: JudgeCache, progress: bool = True):
        self.backend = backend
        self.cache = cache
        self.progress = progress
        self.cache_hits = 0
        self.cache_misses = 0
        self.budget_stopped = False

    def resolve(self, reqs: list[tuple[Request, str]], desc: str, out: dict | None = None) -> dict:
        """{key: reply text | Exception} for (request, template version) pairs, filled into `out`
        as replies arrive (so a caller interrupted midway still has every reply so far)."""
        out = {} if out is None else out
        todo: list[Request] = []
        versions: dict[str, str] = {}
        for req, version in reqs:
            if req.key in out or req.key in versions:
                continue
            hit = self.cache.get(req.key)
            if hit is not None:
                out[req.key] = hit
                self.cache_hits += 1
            else:
                versions[req.key] = version
                todo.append(req)
        self.cache_misses += len(todo)
        total = len(out) + len(todo)
        bar = None
        if self.progress and total:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=len(out), desc=desc, unit="req", file=sys.stderr, dynamic_ncols=True,
                       smoothing=0.1)
        try:
            for req, reply in self.backend.run_many(todo):
                if isinstance(reply, str):
                    self.cache.put(req.key, reply, self.backend.model, versions[req.key])
                elif isinstance(reply, BudgetExhausted):
                    self.budget_stopped = True
                out[req.key] = reply
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return out


# ----------------------------------------------------------------- single
@dataclass
class Item:
    task: str
    doc_id: object
    protocol: str
    langs: tuple
    response_lang: str | None = None
    messages: tuple = ()
    template_version: str = ""
    reference: float | None = None
    status: str = NOT_JUDGED
    parsed: dict | None = None
    replies: list = field(default_factory=list)
    error: str | None = None

    @property
    def score(self):
        return None if self.parsed is None else self.parsed.get("score")


def reference_metric(run: Run, task: str, lines: list[dict]) -> tuple[str | None, dict]:
    """The metric the judge is correlated with, (key, {doc_id: value}): for our tasks their
    family's reference metric (the registry) when every logged item has a number for it;
    otherwise, and for any other task, the task's first metric (lm-eval's order) with a
    number on every item. FLORES's reference, chrF++, is corpus-level: no per-item number."""
    entry = (run.data.get("results") or {}).get(task) or {}
    keys = [key for key in entry if "," in key and not key.partition(",")[0].endswith("_stderr")
            and not key.startswith("alias")]
    info = run.tasks.get(task)
    family = families.items_family(info.config) if info is not None else None
    preferred = [family.reference_metric] if family is not None and family.reference_metric in keys else []
    for key in preferred + keys:
        values = item_scores(lines, key, every_item=True)
        if values:
            return key, values
    return None, {}


def first_lines(lines: list[dict]) -> list[dict]:
    """One logged line per doc (lm-eval logs one per filter)."""
    seen, out = set(), []
    for s in lines:
        d = s.get("doc_id")
        if d not in seen:
            seen.add(d)
            out.append(s)
    return out


def selected_tasks(run: Run, patterns: list[str] | None) -> list[str]:
    tasks = sorted(run.samples)
    if patterns:
        tasks = [t for t in tasks if any(fnmatch.fnmatchcase(t, p) for p in patterns)]
    return tasks


def _messages(prompt: str) -> tuple:
    return (("user", prompt),)


def _with_reminder(messages: tuple, reply: str, protocol: str) -> tuple:
    return messages + (("assistant", reply), ("user", P.reminder(protocol)))


class JudgeJob:
    def __init__(self, backend, cache: JudgeCache, sampling: dict, overrides=(), task_patterns=None,
                 limit: int | None = None, progress: bool = True, bootstrap_iters: int = bootstrap.DEFAULT_ITERS):
        self.backend = backend
        self.cache = cache
        self.sampling = sampling
        self.overrides = list(overrides)
        self.task_patterns = task_patterns
        self.limit = limit
        self.iters = bootstrap_iters
        self.resolver = Resolver(backend, cache, progress)
        self.problems: list[Problem] = []

    def key(self, version: str, messages: tuple) -> str:
        return cache_key(self.backend.model, version, self.sampling, messages)

    # -------------------------------------------------------------- items
    def items_of(self, run: Run) -> tuple[list[Item], dict]:
        items: list[Item] = []
        refs: dict[str, str | None] = {}
        for task in selected_tasks(run, self.task_patterns):
            info = run.tasks[task]
            lines = sample_lines(run, task, self.problems)
            ref_key, ref_values = reference_metric(run, task, lines)
            refs[task] = ref_key
            docs = first_lines(lines)
            if self.limit is not None:
                docs = docs[: self.limit]
            if docs:
                try:
                    P.response_text(docs[0])
                except P.ItemError as err:  # loglikelihood / multiple-choice tasks: nothing to judge
                    self.problems.append(Problem(str(run.samples[task]), f"{err}; task {task} not judged"))
                    continue
            invalid: list = []
            for s in docs:
                doc = s.get("doc") if isinstance(s.get("doc"), dict) else {}
                proto = P.choose(task, info.family, doc, self.overrides, info.config)
                tpl = P.template(proto)
                item = Item(task, s.get("doc_id"), proto, info.langs, template_version=tpl.version,
                            reference=ref_values.get(s.get("doc_id")))
                try:
                    fields, item.response_lang = P.fields_for(proto, task, info.langs, s, info.config)
                    item.messages = _messages(tpl.render(**fields))
                except P.ItemError as err:
                    item.status, item.error = INVALID, str(err)
                    invalid.append(item)
                items.append(item)
            if invalid:
                first = invalid[0]
                self.problems.append(Problem(str(run.samples[task]), (
                    f"{len(invalid)} item(s) cannot be judged with protocol {first.protocol} (first: doc_id "
                    f"{first.doc_id}: {first.error}); counted as invalid_items")))
        return items, refs

    # -------------------------------------------------------------- judging
    def judge_items(self, items: list[Item]) -> None:
        live = [it for it in items if it.status != INVALID]
        first = {id(it): Request(self.key(it.template_version, it.messages), it.messages) for it in live}
        got: dict = {}
        try:
            self.resolver.resolve([(first[id(it)], it.template_version) for it in live], "judge", got)
        finally:  # also on Ctrl-C: every reply that arrived counts
            for it in live:
                self._take(it, got.get(first[id(it)].key))
        retry = []
        for it in live:
            if it.status == PARSE_FAILURE:
                msgs = _with_reminder(it.messages, it.replies[-1], it.protocol)
                retry.append((it, Request(self.key(it.template_version, msgs), msgs)))
        if retry:
            got = {}
            try:
                self.resolver.resolve([(r, it.template_version) for it, r in retry], "judge (format reminder)", got)
            finally:
                for it, r in retry:
                    if r.key in got:
                        self._take(it, got[r.key])
                    else:  # interrupted before its reminder: not a parse failure yet
                        it.status, it.error = NOT_JUDGED, "stopped before the format reminder was asked"

    def _take(self, it: Item, reply) -> None:
        if reply is None or isinstance(reply, BudgetExhausted):
            it.status = NOT_JUDGED
            it.error = str(reply) if reply is not None else "not asked"
            return
        if isinstance(reply, Exception):
            it.status, it.error = REQUEST_FAILED, str(reply)
            return
        it.replies.append(reply)
        it.parsed = P.parse(it.protocol, reply)
        it.status = OK if it.parsed is not None else PARSE_FAILURE
        it.error = None if it.parsed is not None else "no score in the required format"

    # -------------------------------------------------------------- summary
    def summarize(self, items: list[Item], run: Run, refs: dict) -> tuple[dict, dict]:
        """({task: {protocol: JudgeEntry}}, {protocol: {row key: JudgeEntry}} pooled per language row)."""
        by_task: dict[str, dict[str, list[Item]]] = {}
        for it in items:
            by_task.setdefault(it.task, {}).setdefault(it.protocol, []).append(it)
        tasks: dict = {}
        for task, per_proto in by_task.items():
            info = run.tasks[task]
            for proto, its in per_proto.items():
                entry = self._entry(its, proto)
                entry.family, entry.langs, entry.reference_metric = info.family, list(info.langs), refs.get(task)
                pairs = [(it.score, it.reference) for it in its if it.status == OK and it.reference is not None]
                entry.agreement = {
                    "method": "spearman", "reference_metric": refs.get(task), "n": len(pairs),
                    "rho": spearman(*zip(*pairs)) if len(pairs) >= 3 else None,
                }
                tasks.setdefault(task, {})[proto] = entry
        # pooled per language row and protocol (tasks of several families may share a row)
        by_lang: dict = {}
        for it in items:
            by_lang.setdefault(it.protocol, {}).setdefault(row_key(it.langs), []).append(it)
        languages_ = {p: {k: self._entry(its, p) for k, its in sorted(rows.items())} for p, rows in by_lang.items()}
        return tasks, languages_

    def _entry(self, its: list[Item], proto: str) -> JudgeEntry:
        scores = [it.score for it in its if it.status == OK]
        count = lambda s: sum(1 for it in its if it.status == s)  # noqa: E731
        entry = JudgeEntry(
            protocol=proto, metric=f"judge/{proto}", template_version=its[0].template_version,
            response_lang=its[0].response_lang, n_items=len(its), n=len(scores),
            scale="0-100" if proto == "da" else ("1-10" if proto == "grade" else "0-1"),
            parse_failures=count(PARSE_FAILURE), request_failures=count(REQUEST_FAILED),
            not_judged=count(NOT_JUDGED), invalid_items=count(INVALID),
            retried_with_reminder=sum(1 for it in its if len(it.replies) == 2),
            parse_failure_doc_ids=[it.doc_id for it in its if it.status == PARSE_FAILURE],
        )
        if scores:
            mean, lo, hi = bootstrap.bootstrap_ci(scores, iters=self.iters)
            entry.mean, entry.ci95 = mean, [lo, hi]
            entry.stderr = float(np.std(scores, ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else None
        if proto == "math_cot":
            ok = [it for it in its if it.status == OK]
            if ok:
                entry.answer_correct_rate = sum(it.parsed["correct"] for it in ok) / len(ok)
        return entry

    def provenance(self, run: Run, protocols_used, extra=None) -> dict:
        desc = dict(self.backend.describe())
        if "url" in desc:
            desc["url"] = safe_url(desc["url"])
        return {
            "lm_eval_ext_version": __version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "judge": desc, "sampling": self.sampling,
            "templates": {p: P.template(p).version for p in sorted(protocols_used)},
            "reminder_template": P.template("reminder").version,
            "statistics": bootstrap.signature(self.iters),
            "run": {"path": str(run.path), "model": run.model, "run_id": run.identity,
                    "results_files": [p.name for p in run.results_files],
                    "samples": {t: p.name for t, p in sorted(run.samples.items())}},  # what the reader pairs
            "cache": str(self.cache.path),
            **(extra or {}),
        }

    def requests_summary(self) -> dict:
        return {"cache_hits": self.resolver.cache_hits, "cache_misses": self.resolver.cache_misses,
                **self.backend.stats.as_dict(), "budget_exhausted": self.resolver.budget_stopped}

    # -------------------------------------------------------------- one run
    def run_single(self, run: Run, stamp: str | None = None) -> tuple[Path, JudgeResults]:
        items, refs = self.items_of(run)
        if not items:
            raise ValueError(f"{run.path}: no samples logs of the selected tasks (run lm_eval with --log_samples)")
        try:
            self.judge_items(items)
        finally:
            # written even after a Ctrl-C or a fatal error: what is judged is kept (and cached)
            stamp = stamp or now_stamp()
            tasks, pooled = self.summarize(items, run, refs)
            for task, per in tasks.items():
                name = judge_file.samples_name(task, stamp)
                lines = [json.dumps(_item_line(it), ensure_ascii=False) for it in items if it.task == task]
                files.write_atomic(run.path / name, "\n".join(lines) + "\n")
                for entry in per.values():
                    entry.samples_file = name
            doc = JudgeResults(tasks=tasks, languages=pooled,
                               complete=all(it.status in (OK, PARSE_FAILURE, INVALID) for it in items),
                               requests=self.requests_summary(),
                               provenance=self.provenance(run, {it.protocol for it in items}))
            path = run.path / judge_file.results_name(stamp)
            judge_file.write(path, doc)
        return path, doc


def _item_line(it: Item) -> dict:
    return {"task": it.task, "doc_id": it.doc_id, "protocol": it.protocol, "langs": list(it.langs),
            "response_lang": it.response_lang, "template_version": it.template_version, "status": it.status,
            "score": it.score, "parsed": it.parsed, "reference": it.reference, "error": it.error,
            "judge_replies": it.replies}
