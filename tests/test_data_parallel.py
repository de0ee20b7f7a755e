"""Beyond one process: the numbers of a data-parallel run and of a server farm
equal those of one process.

- Data parallel (lm-eval's own path): the same tasks through lm-eval's CLI once
  in one process and once in two torchrun processes (gloo on loopback) whose
  `hf` model is sharded by rank (tests/support/dp_launch.py: lm-eval's HFLM, which
  joins a data-parallel run only when torch sees several GPUs, given the rank
  of its process group). lm-eval builds each rank's requests from every
  second document, gathers the per-sample values to rank 0 and aggregates
  there: our cross-document metrics (xlc's consistency across the languages of
  one item, whose records come from different ranks; corpus BLEU and chrF++;
  COMET, the mean of segment scores) must come out the same.
- A farm of OpenAI-compatible servers: two `lm-eval-ext serve` processes behind
  a round-robin proxy on loopback, `local-chat-completions` with
  num_concurrent=4 through the proxy vs one server one request at a time; and
  `lm-eval-ext judge` pointed at the farm.

The data-parallel run uses the embedded model (SmolLM2-135M: real replies, so
xlc's agreement is not trivially zero), the farm the tiny random model.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from support.env import REPO, run_cli, side_env
from support.loopback import LoopbackHTTP


BIN = Path(sys.executable).parent
# one intra-op thread per process in every run: results must not depend on how a
# matrix product is split over threads
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


# ------------------------------------------------------------ helpers
def results_of(out: Path) -> dict:
    (path,) = list(out.rglob("results_*.json"))
    return json.loads(path.read_text(encoding="utf-8"))


def samples_of(out: Path, task: str) -> list[dict]:
    (path,) = list(out.rglob(f"samples_{task}_*.jsonl"))
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return sorted(rows, key=lambda s: (s["doc_id"], s["filter"]))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def differences(one: dict, other: dict) -> list[str]:
    """Keys whose values differ between two results["results"][task] dicts."""
    keys = sorted(set(one) | set(other))
    return [f"{k}: {one.get(k, '<missing>')!r} != {other.get(k, '<missing>')!r}"
            for k in keys if not same(one.get(k), other.get(k))]


def sample_view(s: dict) -> dict:
    return {"doc_id": s["doc_id"], "filter": s["filter"], "resps": s["resps"],
            "filtered_resps": s["filtered_resps"], **{m: s[m] for m in s["metrics"]}}


# ------------------------------------------------------------ data parallel
def test_corpus_standard_errors_do_not_depend_on_item_order(shared_data):
    """A data-parallel run hands the aggregation its sentences rank by rank (rank 0's,
    then rank 1's): the bootstrap standard errors of BLEU and chrF++ must not change."""
    from lm_eval_ext.metrics import mt as mt_metrics

    def texts(code):
        with open(shared_data / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
            return [json.loads(line)["text"] for line in fh][:40]

    refs = texts("deu_Latn")
    hyps = [" ".join(w for j, w in enumerate(r.split()) if j % (2 + i % 5) != 1) for i, r in enumerate(refs)]
    items = [(h, r, "deu_Latn") for h, r in zip(hyps, refs)]
    by_rank = items[0::2] + items[1::2]
    for name in ("bleu", "chrfpp"):
        se = mt_metrics.bootstrap_stderr(name, items, 1000)
        assert se > 0
        assert mt_metrics.bootstrap_stderr(name, by_rank, 1000) == se, name



DP_TASKS = "xlc_mgsm,flores_eng_Latn-deu_Latn"
# xlc_mgsm's documents are item-major (item 0 in 11 languages, then item 1), so
# with every second document per rank each item's languages are split over both ranks
DP_SAMPLES = {"xlc_mgsm": list(range(22)), "flores_eng_Latn-deu_Latn": list(range(6))}


@pytest.fixture(scope="module")
def embedded_model():
    from lm_eval_ext.local import embedded

    try:
        return embedded.model_dir()
    except embedded.EmbeddedModelMissing as err:
        pytest.skip(f"embedded model not installed: {err}")


@pytest.fixture(scope="module")
def dp_runs(tmp_path_factory, embedded_model, mt_models):
    """The same evaluation in one process (plain `lm_eval --model hf`) and in two
    torchrun processes (`hf-cpu-dp`)."""
    out = tmp_path_factory.mktemp("dp")
    env = {
        **ONE_THREAD, **side_env(),
        "LM_EVAL_EXT_COMET": f"{mt_models['comet']};encoder={mt_models['encoder']};batch_size=4",
        "LM_EVAL_EXT_BLEURT": "off",
        "LM_EVAL_EXT_SCORE_CACHE": "off",  # both runs compute every COMET score
    }
    common = ["--tasks", DP_TASKS, "--samples", json.dumps(DP_SAMPLES), "--batch_size", "1",
              "--apply_chat_template", "--gen_kwargs", "max_gen_toks=32", "--log_samples"]
    single = run_cli(["lm_eval", "--model", "hf", "--model_args", f"pretrained={embedded_model}",
                      *common, "--output_path", str(out / "single")], env=env, timeout=1800)
    assert single.returncode == 0, single.stderr[-4000:]
    # accelerate runs its process group on CPU (gloo) only when asked to
    dp_env = {**os.environ, **env, "ACCELERATE_USE_CPU": "true"}
    dp = subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(REPO / "tests" / "support" / "dp_launch.py"),
         "--model", "hf-cpu-dp", "--model_args", f"pretrained={embedded_model}",
         *common, "--output_path", str(out / "dp")],
        env=dp_env, capture_output=True, text=True, timeout=1800)
    assert dp.returncode == 0, dp.stderr[-4000:]
    return {"single": single, "dp": dp, "out": out}


@pytest.mark.slow
def test_two_processes_each_built_half_of_the_requests(dp_runs):
    for task in DP_TASKS.split(","):
        ranks = set(re.findall(rf"Building contexts for {re.escape(task)} on rank (\d+)", dp_runs["dp"].stderr))
        assert ranks == {"0", "1"}, task
        assert set(re.findall(rf"Building contexts for {re.escape(task)} on rank (\d+)",
                              dp_runs["single"].stderr)) == {"0"}
    # every document answered once, by one rank: the gathered samples are the single run's
    for task, docs in DP_SAMPLES.items():
        dp = samples_of(dp_runs["out"] / "dp", task)
        assert sorted({s["doc_id"] for s in dp}) == docs
        assert [sample_view(s) for s in dp] == [sample_view(s) for s in samples_of(dp_runs["out"] / "single", task)]


@pytest.mark.slow
def test_cross_lingual_consistency_is_the_same(dp_runs):
    single = results_of(dp_runs["out"] / "single")["results"]["xlc_mgsm"]
    dp = results_of(dp_runs["out"] / "dp")["results"]["xlc_mgsm"]
    assert differences(single, dp) == []
    # not a comparison of zeros: the model's last numbers agree across several language pairs
    assert single["agreement_mean,flexible-extract"] > 0
    assert sum(v > 0 for k, v in single.items() if re.fullmatch(r"agreement_.._..,flexible-extract", k)) >= 3


@pytest.mark.slow
def test_corpus_bleu_chrf_and_comet_are_the_same(dp_runs, mt_models):
    task = "flores_eng_Latn-deu_Latn"
    single = results_of(dp_runs["out"] / "single")
    dp = results_of(dp_runs["out"] / "dp")
    assert differences(single["results"][task], dp["results"][task]) == []
    r = single["results"][task]
    for metric in ("bleu", "chrfpp", "comet"):
        assert not math.isnan(r[f"{metric},translation"]), metric
    assert r["chrfpp,translation"] > 0
    sigs = single["configs"][task]["metadata"]["metric_signatures"]
    assert sigs["comet"] == dp["configs"][task]["metadata"]["metric_signatures"]["comet"]
    assert sigs["comet"].startswith(f"comet:{mt_models['comet']}|batch:4|")


def _dp_run(model_dir: Path, samples: dict, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(REPO / "tests" / "support" / "dp_launch.py"),
         "--model", "hf-cpu-dp", "--model_args", f"pretrained={model_dir}", "--tasks", ",".join(samples),
         "--samples", json.dumps(samples), "--batch_size", "1", "--gen_kwargs", "max_gen_toks=8",
         "--log_samples", "--output_path", str(out)],
        env={**os.environ, **ONE_THREAD, "ACCELERATE_USE_CPU": "true"}, capture_output=True, text=True, timeout=900)


def _single_run(model_dir: Path, samples: dict, out: Path) -> subprocess.CompletedProcess:
    return run_cli(["lm_eval", "--model", "hf", "--model_args", f"pretrained={model_dir}", "--tasks", ",".join(samples),
                    "--samples", json.dumps(samples), "--batch_size", "1", "--gen_kwargs", "max_gen_toks=8",
                    "--log_samples", "--output_path", str(out)], env=ONE_THREAD)


@pytest.mark.slow
def test_a_metric_some_documents_cannot_decide_survives_data_parallel(tiny_model_dir, tmp_path):
    """lm-eval 0.4.13 gathers the per-document values of a data-parallel run under the
    metric keys rank 0 saw: a key some documents omitted was lost, or stopped rank 0
    with a KeyError, when a whole shard lacked it. Every document now emits every key
    (None where it does not apply: exact_match_in_lang of a reply in another language,
    lang_fidelity of an undecidable one), and the numbers equal one process's."""
    task = "mgsm_native_cot_de"
    probe = run_cli(["lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_model_dir}", "--tasks", task,
                     "--limit", "8", "--batch_size", "1", "--gen_kwargs", "max_gen_toks=8", "--log_samples",
                     "--output_path", str(tmp_path / "probe")], env=ONE_THREAD)
    assert probe.returncode == 0, probe.stderr[-3000:]
    rows = [s for s in samples_of(tmp_path / "probe", task) if s["filter"] == "strict-match"]
    assert all("exact_match_in_lang" in s["metrics"] for s in rows)
    decided = [s["doc_id"] for s in rows if s["exact_match_in_lang"] is not None]
    undecided = [s["doc_id"] for s in rows if s["exact_match_in_lang"] is None]
    assert decided and undecided  # the tiny model writes German in some replies, not in others
    # lm-eval takes --samples in document order: rank 0 gets the lower document, rank 1 the higher
    w = decided[0]
    pairs = [[w, d] for d in undecided if d > w][:1] + [[d, w] for d in undecided if d < w][:1]
    assert pairs
    for pair in pairs:
        single = _single_run(tiny_model_dir, {task: pair}, tmp_path / f"single_{pair[0]}_{pair[1]}")
        assert single.returncode == 0, single.stderr[-3000:]
        out = tmp_path / f"dp_{pair[0]}_{pair[1]}"
        proc = _dp_run(tiny_model_dir, {task: pair}, out)
        assert proc.returncode == 0, proc.stderr[-2000:]
        one, dp = results_of(tmp_path / f"single_{pair[0]}_{pair[1]}")["results"][task], results_of(out)["results"][task]
        assert "exact_match_in_lang,strict-match" in dp, pair
        assert differences(one, dp) == [], pair


@pytest.mark.slow
def test_consistency_over_an_even_number_of_languages_survives_data_parallel(tiny_model_dir, tmp_path):
    """xlc_xquad's 12 languages, item-major over 2 ranks: rank 0 holds only the even-numbered
    languages, so before every document emitted every key rank 0 stopped with a KeyError
    (accuracy_<an odd-numbered language> missing from rank 1's shard)."""
    samples = {"xlc_xquad": list(range(4))}  # item 0 in its first four languages
    single = _single_run(tiny_model_dir, samples, tmp_path / "single")
    assert single.returncode == 0, single.stderr[-3000:]
    proc = _dp_run(tiny_model_dir, samples, tmp_path / "dp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, dp = results_of(tmp_path / "single")["results"]["xlc_xquad"], results_of(tmp_path / "dp")["results"]["xlc_xquad"]
    assert differences(one, dp) == []
    # the four languages answered, on both ranks: their accuracies are numbers, the others' NaN
    langs = [s["doc"]["xlc_lang"] for s in samples_of(tmp_path / "dp", "xlc_xquad") if s["filter"] == "clean"]
    assert len(set(langs)) == 4
    assert all(not math.isnan(dp[f"accuracy_{x},clean"]) for x in langs)
    assert sum(math.isnan(v) for k, v in dp.items() if re.fullmatch(r"accuracy_..,clean", k)) == 8


def _task_results(out: Path, task: str) -> dict:
    """The results of `task` among the results files of a run folder (one per stage)."""
    (found,) = [doc["results"][task] for doc in (json.loads(p.read_text(encoding="utf-8"))
                                                 for p in out.rglob("results_*.json")) if task in doc["results"]]
    return found


@pytest.mark.slow
def test_self_translate_runs_data_parallel_and_equals_one_process(tiny_model_dir, tmp_path):
    """`lm-eval-ext self-translate` under torchrun: rank 0 saves and checks stage 1, rank 1
    waits for its word (before, rank 1 looked for stage 1 before rank 0 had written it and
    exited 2); both stages equal one process's, every document answered once."""
    args = ["self-translate", "--model_args", f"pretrained={tiny_model_dir}", "--tasks", "mgsm", "--langs", "de",
            "--limit", "4", "--batch_size", "1", "--gen_kwargs", "max_gen_toks=8", "--device", "cpu"]
    single = run_cli(["lm-eval-ext", *args[:1], "--model", "hf", *args[1:], "--output_path", str(tmp_path / "single")],
                     env=ONE_THREAD)
    assert single.returncode == 0, single.stderr[-3000:]
    dp = subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(REPO / "tests" / "support" / "dp_launch.py"),
         "lm-eval-ext", *args[:1], "--model", "hf-cpu-dp", *args[1:], "--output_path", str(tmp_path / "dp")],
        env={**os.environ, **ONE_THREAD, "ACCELERATE_USE_CPU": "true"}, capture_output=True, text=True, timeout=900)
    assert dp.returncode == 0, dp.stdout[-2000:] + dp.stderr[-4000:]
    for task in ("mgsm_self_translate_stage1_de", "mgsm_self_translate_de"):
        ranks = set(re.findall(rf"Building contexts for {re.escape(task)} on rank (\d+)", dp.stderr))
        assert ranks == {"0", "1"}, task
    assert dp.stdout.count("lm-eval output (one run: stage 1 and stage 2)") == 1  # rank 0 reports
    for task in ("mgsm_self_translate_stage1_de", "mgsm_self_translate_de"):
        assert differences(_task_results(tmp_path / "single", task), _task_results(tmp_path / "dp", task)) == [], task
    for task in ("mgsm_self_translate_stage1_de", "mgsm_self_translate_de"):
        assert [sample_view(s) for s in samples_of(tmp_path / "dp", task)] == \
            [sample_view(s) for s in samples_of(tmp_path / "single", task)]


# ------------------------------------------------------------ server farm
class RoundRobinProxy(LoopbackHTTP):
    """An HTTP proxy on loopback sending each request to the next backend in turn
    (what nginx's `upstream` block does by default); counts requests per backend."""

    def __init__(self, backends: list[str]):
        self.backends = backends  # "127.0.0.1:PORT"
        self.counts = {b: 0 for b in backends}
        self._next = itertools.cycle(backends)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _forward(self):
                with proxy._lock:
                    backend = next(proxy._next)
                    proxy.counts[backend] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                host, port = backend.split(":")
                conn = http.client.HTTPConnection(host, int(port), timeout=600)
                try:
                    conn.request(self.command, self.path, body=body or None,
                                 headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self._serve(Handler)


def start_server(model_dir: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(BIN / "lm-eval-ext"), "serve", "--hf", str(model_dir), "--port", "0", "--model-name", "tiny"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **ONE_THREAD})
    line = proc.stdout.readline()
    match = re.search(r"on http://(127\.0\.0\.1:\d+)/v1", line)
    if not match:
        proc.kill()
        raise AssertionError(f"serve did not start: {line!r}")
    return proc, match.group(1)


@pytest.fixture(scope="module")
def farm(tiny_model_dir):
    servers = [start_server(tiny_model_dir) for _ in range(2)]
    try:
        with RoundRobinProxy([addr for _, addr in servers]) as proxy:
            yield {"proxy": proxy, "servers": [f"http://{addr}/v1" for _, addr in servers]}
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)


FARM_TASKS = "mgsm_native_cot_de,flores_eng_Latn-deu_Latn"


def _api_run(base_url: str, concurrency: int, out: Path) -> subprocess.CompletedProcess:
    return run_cli([
        "lm_eval", "--model", "local-chat-completions",
        "--model_args", f"model=tiny,base_url={base_url}/chat/completions,num_concurrent={concurrency}",
        "--tasks", FARM_TASKS, "--limit", "6", "--apply_chat_template",
        "--gen_kwargs", "max_gen_toks=24", "--log_samples", "--output_path", str(out),
    ], env={"LM_EVAL_EXT_COMET": "off", "LM_EVAL_EXT_BLEURT": "off"})


@pytest.fixture(scope="module")
def farm_runs(farm, tmp_path_factory):
    out = tmp_path_factory.mktemp("farm")
    one = _api_run(farm["servers"][0], 1, out / "one")
    assert one.returncode == 0, one.stderr[-4000:]
    before = dict(farm["proxy"].counts)
    many = _api_run(farm["proxy"].base_url, 4, out / "farm")
    assert many.returncode == 0, many.stderr[-4000:]
    served = {b: farm["proxy"].counts[b] - before[b] for b in before}
    return {"out": out, "served": served}


@pytest.mark.slow
def test_farm_gives_the_results_of_one_server(farm_runs):
    # both servers answered (12 generations, round robin)
    assert sorted(farm_runs["served"].values()) == [6, 6]
    one, many = results_of(farm_runs["out"] / "one"), results_of(farm_runs["out"] / "farm")
    for task in FARM_TASKS.split(","):
        assert differences(one["results"][task], many["results"][task]) == [], task
        assert [sample_view(s) for s in samples_of(farm_runs["out"] / "one", task)] == \
            [sample_view(s) for s in samples_of(farm_runs["out"] / "farm", task)]
    assert one["results"]["flores_eng_Latn-deu_Latn"]["chrfpp,translation"] > 0


@pytest.mark.slow
def test_judge_through_the_farm_equals_one_server(farm, farm_runs, tmp_path):
    import shutil

    verdicts = {}
    for name, url, concurrency in (("one", farm["servers"][1], 1), ("farm", farm["proxy"].base_url, 4)):
        run = tmp_path / name
        shutil.copytree(farm_runs["out"] / "one", run)
        proc = run_cli(["lm-eval-ext", "judge", str(run), "--judge-url", url, "--judge-model", "tiny",
                        "--concurrency", str(concurrency), "--max-tokens", "24", "--cache", str(tmp_path / f"{name}.sqlite"),
                        "--no-progress", "--backoff", "0.1"])
        assert proc.returncode in (0, 3), proc.stderr[-3000:]
        (samples,) = [p for p in run.rglob("judge_samples_mgsm_native_cot_de_*.jsonl")]
        verdicts[name] = sorted(samples.read_text(encoding="utf-8").splitlines())
    assert len(verdicts["one"]) == 6
    assert verdicts["one"] == verdicts["farm"]
