"""Our tasks score a reply alike whatever the backend does with the stop sequences, on every
supported lm-eval (tests/run.sh runs this file with 0.4.12, 0.4.13 and 0.5.0.dev1).

Two real `lm_eval` runs over every task family (MGSM's nested group, XQuAD, MLQA, FLORES both
ways, xlc_mgsm with 12 stops, xlc_xquad with 24; PolyMath and LCB, which have no stops) against a loopback server that replies with the
gold answer (the oracle of benchmarks/oracle_snapshot.py):

- ``clean``: the reply is the answer, as a backend that honours every stop returns it;
- ``run_on``: a server that ignores the stops: the answer, then one of the task's stop sequences
  (often the last, which chat APIs never get: lm-eval sends ``stop[:4]``) and the next
  "Question:"/"Frage:" block running on with other numbers and English text, or the answer with
  only the stop string (what ``transformers serve`` returns).

Every metric of every task and group, and every filtered reply, must be the same in both. The
clean run is also an oracle run through lm-eval: every accuracy is 1, and the results carry our
annotation (metric signatures, FLORES's stderr) on each version; the report and the leaderboard
read it with lm-eval 0.5's ``<group>::<task>`` keys mapped back. Self-translate runs in
tests/test_self_translate.py (its stage 2 needs a stage-1 run)."""

from __future__ import annotations

import importlib.util
import json
import math
import zlib
from pathlib import Path

import pytest
from support.env import REPO, run_cli
from support.loopback import ScriptedServer
from support.qa_data import build_data_dir

from lm_eval_ext import compat, families, plugin
from lm_eval_ext.families import flores
from lm_eval_ext.formats import run_folder
from lm_eval_ext.formats.run_folder import read_samples

LIMIT = 3  # items per task (the oracle knows the first 3 of every language)
TASKS = ["mgsm_direct", "mgsm_native_cot_de", "mgsm_en_cot_th", "xquad_de", "xquad_th_en", "mlqa_de_en",
         "flores_eng_Latn-deu_Latn", "flores_deu_Latn-eng_Latn", "xlc_mgsm", "xlc_xquad"]
RUN_ON = " Die Antwort ist 999.\nAnswer: 41 + 1 = 42, so the answer is 42.\n\nQuestion: What is 2 + 2?\nAnswer: 5"


def _oracle_module():
    spec = importlib.util.spec_from_file_location("oracle_snapshot", REPO / "benchmarks" / "oracle_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _task_stops() -> dict[tuple, list[str]]:
    """{the stops a chat request carries (the first four of the task's): the task's stops}; where
    tasks share the first four, the stops all of them have."""
    out: dict[tuple, list[str]] = {}
    for entry in plugin.task_index().values():
        until = ((entry.cfg or {}).get("generation_kwargs") or {}).get("until")
        if isinstance(until, list) and until:
            key = tuple(until[:4])
            out[key] = [s for s in out.get(key, until) if s in until]
    return out


def _every_family_covered() -> list[str]:
    """TASKS, plus the first task of any family of the registry they miss (self-translate aside)."""
    index = plugin.task_index()
    names = list(TASKS)

    def family(task):
        return families.of_config(index[task].cfg or {}).name

    have = {family(leaf) for t in TASKS for leaf in plugin.leaf_tasks(t, index)}
    for name in families.FAMILIES:
        if name not in have and "self_translate" not in name:
            names.append(next(t for t in sorted(index) if plugin.leaf_tasks(t, index) == [t] and family(t) == name))
    return names


def _with_stopless_families(oracle, shared_data: Path):
    """The oracle, also for the families without stop sequences: PolyMath's gold answer in
    \\boxed{} (as tests/test_polymath_e2e.py's oracle), and LCB's prompt echoed (a reply in the
    prompt's language)."""
    from support.loopback import last_user_message

    from lm_eval_ext.families import lcb, polymath

    questions = {doc["question"]: doc for lang in ("ar", "de", "en") for level in polymath.LEVELS
                 for doc in polymath.read_level(shared_data, lang, level)}
    prompts = {doc["prompt"] for setting in lcb.SETTINGS for lang in lcb.LANGS[setting]
               for doc in lcb.docs(shared_data, setting, lang)[:LIMIT]}

    def reply(kind, payload):
        prompt = last_user_message(payload)
        doc = questions.get(prompt.rsplit("\n", 1)[0]) or questions.get(prompt.rsplit("\n", 2)[0])
        if doc is not None:
            return f"{doc['question']}\n\n$$\\boxed{{{doc['answer'].replace('$', '')}}}$$"
        if prompt in prompts:
            return prompt
        return oracle(kind, payload)

    return reply


def _run(tmp: Path, data: Path, policy, ignore_stops: bool) -> Path:
    out = tmp / ("run_on" if ignore_stops else "clean")
    env = {"LM_EVAL_EXT_DATA_DIR": str(data), "LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off",
           "LM_EVAL_EXT_FLORES200_SPM": str(tmp / "no-flores200.model"), "TOKENIZERS_PARALLELISM": "false"}
    with ScriptedServer(policy, ignore_stops=ignore_stops) as server:
        proc = run_cli(["lm_eval", "run", "--model", "local-chat-completions", "--model_args",
                        f"model=oracle,base_url={server.base_url}/chat/completions,num_concurrent=4",
                        "--apply_chat_template", "--log_samples", "--output_path", str(out),
                        "--tasks", ",".join(_every_family_covered()), "--limit", str(LIMIT)], env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # lm-eval's per-task and (0.5) per-metric warnings about our tasks are silenced on every version
    assert compat.CUSTOM_DATASET_TEXT not in proc.stderr and "not found in registry" not in proc.stderr
    (folder,) = {p.parent for p in out.rglob("results_*.json")}
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("backends")
    data = build_data_dir(shared_data, tmp / "data")
    bench = _oracle_module()
    oracle = _with_stopless_families(bench.model_policy("oracle", bench.Items(shared_data)), shared_data)
    stops = _task_stops()
    shapes: list[tuple[int, int, bool]] = []  # (number of stops, index of the one used, run on?)

    def run_on(kind, payload):
        reply = oracle(kind, payload)
        sent = tuple(payload.get("stop") or ())
        if not sent:  # PolyMath, LCB: no stop sequence to ignore, every backend returns the whole reply
            return reply
        until = stops[sent]
        h = zlib.crc32(json.dumps(payload["messages"], ensure_ascii=False).encode())
        k = len(until) - 1 if h % 2 else (h // 2) % len(until)
        tail = "" if (h // 7) % 4 == 0 else RUN_ON
        shapes.append((len(until), k, bool(tail)))
        return reply + until[k] + tail

    return _run(tmp, data, oracle, False), _run(tmp, data, run_on, True), shapes


def _results(folder: Path) -> dict:
    (path,) = folder.glob("results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _samples(folder: Path) -> dict[tuple, list]:
    out = {}
    for path in folder.glob("samples_*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            s = json.loads(line)
            out[(path.name.rsplit("_", 1)[0], s["doc_id"], s["filter"])] = s
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_a_server_that_ignores_stops_scores_like_the_cut_reply(runs):
    clean, run_on, shapes = runs
    assert any(n > 4 and k >= 4 for n, k, _ in shapes)  # a stop chat APIs never get
    assert any(tail for *_, tail in shapes) and any(not tail for *_, tail in shapes)
    a, b = _results(clean), _results(run_on)
    assert set(a["results"]) == set(b["results"]) and len(a["results"]) > 20
    differ = {(task, key): (v, b["results"][task].get(key)) for task, entry in a["results"].items()
              for key, v in entry.items() if not _same(v, b["results"][task].get(key))}
    assert not differ
    sa, sb = _samples(clean), _samples(run_on)
    assert set(sa) == set(sb)
    replies = {k: (s["filtered_resps"], sb[k]["filtered_resps"]) for k, s in sa.items()
               if s["filtered_resps"] != sb[k]["filtered_resps"] or s["metrics"] != sb[k]["metrics"]}
    assert not replies
    assert any(s["resps"] != sb[k]["resps"] for k, s in sa.items())  # the raw replies did differ


def test_the_oracle_scores_one_and_the_results_are_annotated(runs):
    clean, _, _ = runs
    doc = _results(clean)
    results = {compat.base_task(k, doc["configs"].get(k)): v for k, v in doc["results"].items()}
    for task, entry in results.items():
        for key, value in entry.items():
            metric = key.partition(",")[0]
            if metric.startswith("accuracy_") and value != value:
                continue  # xlc: a language --limit left out
            if metric in ("exact_match", "f1_qa", "exact_match_squad", "f1_squad", "acc_math") or (
                    metric.startswith("accuracy_") and not metric.endswith("_stderr")):
                assert value == 1.0, (task, key, value)
            if metric in ("chrfpp", "bleu"):
                assert value == pytest.approx(100.0), (task, key, value)
    assert results["xlc_mgsm"]["accuracy_de,flexible-extract"] == 1.0
    assert results["mgsm_direct"]["exact_match,strict-match"] == 1.0  # the nested group's mean
    for key, cfg in doc["configs"].items():
        if families.of_config(cfg) is not None:
            assert run_folder.annotation(cfg) == plugin.ANNOTATION_OK, key
            assert "metric_signatures" in cfg["metadata"], key
    flores = results["flores_eng_Latn-deu_Latn"]
    assert isinstance(flores["bleu_stderr,translation"], float)  # ours (capped); lm-eval's would be 100000 draws
    assert flores["comet,translation"] != flores["comet,translation"]  # switched off: NaN, with its reason
    assert results["xlc_mgsm"]["accuracy_de_stderr,flexible-extract"] == "N/A"  # no lm-eval bootstrap of ours
    qualified = [k for k in doc["results"] if "::" in k]
    assert bool(qualified) == compat.lm_eval_version().startswith("0.5")  # 0.5: "mgsm_direct_hrl::mgsm_direct_de"


def test_report_and_leaderboard_read_the_run_with_plain_task_names(runs, tmp_path):
    _, run_on, _ = runs
    from lm_eval_ext.reporting.runs import load_runs

    (run,), problems = load_runs([run_on])
    assert not [t for t in (*run.tasks, *run.samples) if "::" in t]
    assert {"mgsm_direct_de", "xquad_de", "xlc_mgsm"} <= set(run.samples)
    assert not [p for p in problems if "annotation" in str(p) or "::" in str(p)]
    # rescore's reader: the oracle's translations are the references (0.5 logs replies one list deeper)
    path = run.samples["flores_eng_Latn-deu_Latn"]
    triples = flores.logged_triples(read_samples(path), path)
    assert len(triples) == LIMIT and all(hyp == ref for _, hyp, ref in triples)
    board = run_cli(["lm-eval-ext", "leaderboard", str(run_on), "--format", "json"])
    assert board.returncode == 0, board.stderr[-2000:]
    columns = json.loads(board.stdout)["columns"]
    assert "mgsm_direct/de/exact_match:strict-match" in columns and "xquad/de/f1_qa:clean" in columns
    assert "mgsm_direct/@group/exact_match:strict-match" in columns and not [c for c in columns if "::" in c]
    report = run_cli(["lm-eval-ext", "report", str(run_on), "-o", str(tmp_path / "report")])
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "xlc_mgsm" in text and "unavailable" not in text
