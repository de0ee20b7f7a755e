"""``lm-eval-ext judge --pairwise``: run A against run B, item by item, each pair asked in both
orders (position bias shows as a flip); writes ``judge_pairwise_<date>.json`` (`formats.judge_file`)
and ``judge_pairwise_samples_<task>_<date>.jsonl`` in A's folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lm_eval_ext import files
from lm_eval_ext.formats import judge_file
from lm_eval_ext.formats.judge_file import PairEntry, PairwiseResults
from lm_eval_ext.formats.run_folder import Problem
from lm_eval_ext.judge import protocols as P
from lm_eval_ext.judge.client import BudgetExhausted, Request
from lm_eval_ext.judge.pipeline import (NOT_JUDGED, OK, PARSE_FAILURE, REQUEST_FAILED, JudgeJob, _messages,
                                        _with_reminder, first_lines,
                                        now_stamp, selected_tasks)
from lm_eval_ext.metrics import bootstrap
from lm_eval_ext.reporting.rows import row_key
from lm_eval_ext.reporting.runs import Run, sample_lines


WIN, TIE, LOSS = "win", "tie", "loss"


def combine_orders(v1: str, v2: str) -> str:
    """Verdict for run A from (A shown first) and (A shown second): a verdict only when both orders agree."""
    if v1 == "A" and v2 == "B":
        return WIN
    if v1 == "B" and v2 == "A":
        return LOSS
    return TIE


@dataclass
class PairItem:
    task: str
    doc_id: object
    langs: tuple
    response_lang: str | None
    messages: tuple  # (order 1 messages, order 2 messages)
    version: str
    replies: list = field(default_factory=lambda: [[], []])
    verdicts: list = field(default_factory=lambda: [None, None])
    status: str = NOT_JUDGED
    outcome: str | None = None
    error: str | None = None


class PairwiseJob(JudgeJob):
    def pair_items(self, run_a: Run, run_b: Run) -> list[PairItem]:
        tpl = P.template("pairwise")
        items = []
        shared = [t for t in selected_tasks(run_a, self.task_patterns) if t in run_b.samples]
        for t in selected_tasks(run_a, self.task_patterns):
            if t not in run_b.samples:
                self.problems.append(Problem(str(run_b.path), f"no samples log of {t}; not compared"))
        for task in shared:
            info = run_a.tasks[task]
            a_docs = {s.get("doc_id"): s for s in first_lines(sample_lines(run_a, task, self.problems))}
            b_docs = {s.get("doc_id"): s for s in first_lines(sample_lines(run_b, task, self.problems))}
            ids = [d for d in a_docs if d in b_docs]
            if len(ids) < max(len(a_docs), len(b_docs)):
                self.problems.append(Problem(task, f"{len(set(a_docs) ^ set(b_docs))} item(s) logged in one run only; "
                                                   f"compared on the {len(ids)} shared items"))
            if self.limit is not None:
                ids = ids[: self.limit]
            for d in ids:
                a, b = a_docs[d], b_docs[d]
                if a.get("doc_hash") and b.get("doc_hash") and a["doc_hash"] != b["doc_hash"]:
                    self.problems.append(Problem(task, f"doc_id {d}: different documents in the two runs; skipped"))
                    continue
                try:
                    fa, lang = P.fields_for("grade", task, info.langs, a, info.config)
                    fb, _ = P.fields_for("grade", task, info.langs, b, info.config)
                except P.ItemError as err:
                    self.problems.append(Problem(task, f"doc_id {d}: {err}; skipped"))
                    continue
                base = {k: v for k, v in fa.items() if k != "response"}
                m1 = _messages(tpl.render(**base, response_a=fa["response"], response_b=fb["response"]))
                m2 = _messages(tpl.render(**base, response_a=fb["response"], response_b=fa["response"]))
                items.append(PairItem(task, d, info.langs, lang, (m1, m2), tpl.version))
        return items

    def judge_pairs(self, items: list[PairItem]) -> None:
        finished = False
        try:
            self._ask_pairs(items)
            finished = True
        finally:  # also on Ctrl-C: items with both verdicts count
            for it in items:
                if it.error:
                    continue
                if None in it.verdicts:
                    # a parse failure only once its reminder was asked too
                    it.status = PARSE_FAILURE if finished else NOT_JUDGED
                else:
                    it.status, it.outcome = OK, combine_orders(*it.verdicts)

    def _ask_pairs(self, items: list[PairItem]) -> None:
        reqs = {(id(it), k): Request(self.key(it.version, it.messages[k]), it.messages[k]) for it in items for k in (0, 1)}
        got: dict = {}
        retry = []
        try:
            self.resolver.resolve([(r, items[0].version) for r in reqs.values()], "pairwise", got)
        finally:
            for it in items:
                for k in (0, 1):
                    self._take_pair(it, k, got.get(reqs[(id(it), k)].key))
                    if it.verdicts[k] is None and it.replies[k] and it.error is None:
                        msgs = _with_reminder(it.messages[k], it.replies[k][-1], "pairwise")
                        retry.append((it, k, Request(self.key(it.version, msgs), msgs)))
        if retry:
            got = {}
            try:
                self.resolver.resolve([(r, it.version) for it, _, r in retry], "pairwise (format reminder)", got)
            finally:
                for it, k, r in retry:
                    if r.key in got:
                        self._take_pair(it, k, got[r.key])
                    else:
                        it.status, it.error = NOT_JUDGED, "stopped before the format reminder was asked"

    def _take_pair(self, it: PairItem, k: int, reply) -> None:
        if reply is None or isinstance(reply, BudgetExhausted):
            it.status, it.error = NOT_JUDGED, str(reply) if reply else "not asked"
            return
        if isinstance(reply, Exception):
            it.status, it.error = REQUEST_FAILED, str(reply)
            return
        it.replies[k].append(reply)
        parsed = P.parse("pairwise", reply)
        it.verdicts[k] = parsed["verdict"] if parsed else None

    def run_pairwise(self, run_a: Run, run_b: Run, stamp: str | None = None) -> tuple[Path, PairwiseResults]:
        items = self.pair_items(run_a, run_b)
        if not items:
            raise ValueError(f"{run_a.path} and {run_b.path}: no items logged in both runs")
        try:
            self.judge_pairs(items)
        finally:
            stamp = stamp or now_stamp()
            tasks: dict = {}
            for task in dict.fromkeys(it.task for it in items):
                its = [it for it in items if it.task == task]
                entry = tasks[task] = _pair_entry(its, self.iters)
                entry.family, entry.langs, entry.template_version = run_a.tasks[task].family, list(its[0].langs), \
                    its[0].version
                name = judge_file.pairwise_samples_name(task, stamp)
                files.write_atomic(run_a.path / name, "\n".join(json.dumps({
                    "task": it.task, "doc_id": it.doc_id, "langs": list(it.langs), "status": it.status,
                    "verdict_a_first": it.verdicts[0], "verdict_b_first": it.verdicts[1], "outcome_for_a": it.outcome,
                    "error": it.error, "judge_replies": it.replies}, ensure_ascii=False) for it in its) + "\n")
                entry.samples_file = name
            by_lang: dict = {}
            for it in items:
                by_lang.setdefault(row_key(it.langs), []).append(it)
            doc = PairwiseResults(
                tasks=tasks,
                languages={k: _pair_entry(v, self.iters) for k, v in sorted(by_lang.items())},
                run_a={"path": str(run_a.path), "model": run_a.model, "run_id": run_a.identity},
                run_b={"path": str(run_b.path), "model": run_b.model, "run_id": run_b.identity},
                complete=all(it.status in (OK, PARSE_FAILURE) for it in items),
                requests=self.requests_summary(),
                provenance=self.provenance(run_a, {"pairwise"}, {"run_b": str(run_b.path)}),
            )
            path = run_a.path / judge_file.pairwise_name(stamp)
            judge_file.write(path, doc)
        return path, doc


def _pair_entry(its: list[PairItem], iters: int) -> PairEntry:
    ok = [it for it in its if it.status == OK]
    entry = PairEntry(
        n_items=len(its), n=len(ok), win=sum(it.outcome == WIN for it in ok), tie=sum(it.outcome == TIE for it in ok),
        loss=sum(it.outcome == LOSS for it in ok),
        # a tie that is not [[C]] in both orders: the verdict flipped with the order (position bias)
        order_disagreements=sum(1 for it in ok if it.outcome == TIE and it.verdicts != ["C", "C"]),
        parse_failures=sum(it.status == PARSE_FAILURE for it in its),
        request_failures=sum(it.status == REQUEST_FAILED for it in its),
        not_judged=sum(it.status == NOT_JUDGED for it in its))
    if ok:
        scores = [{WIN: 1.0, TIE: 0.5, LOSS: 0.0}[it.outcome] for it in ok]
        mean, lo, hi = bootstrap.bootstrap_ci(scores, iters=iters)
        entry.win_rate, entry.win_rate_ci95 = mean, [lo, hi]
    return entry


