"""Import-time overhead of our task discovery, as ratios measured in one run.

Runs each command N times, alternating hook on (default) and off
(LM_EVAL_EXT_AUTOLOAD=0, i.e. plain lm-eval), and reports medians:
- `python -c pass`: the .pth hook alone at interpreter start;
- `lm_eval --help`: the CLI users type;
- `lm_eval ls tasks`: task indexing (lm-eval's ~10k YAMLs plus ours).

    python benchmarks/startup.py [N]
    python benchmarks/startup.py --index-against OTHER_CHECKOUT [N]

`--index-against` times `lm_eval ls tasks` only, alternating plain lm-eval, the autoload of
another checkout (PYTHONPATH=OTHER_CHECKOUT, e.g. the release before a change) and this one, and
reports wall and CPU medians (CPU, user + system, does not depend on a shared machine's load).
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(cmd, autoload: bool) -> float:
    env = {**os.environ, "LM_EVAL_EXT_AUTOLOAD": "1" if autoload else "0"}
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(n: int) -> None:
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "lm_eval --help": [str(BIN / "lm_eval"), "--help"],
        "lm_eval ls tasks": [str(BIN / "lm_eval"), "ls", "tasks"],
    }
    print(f"| command | plain lm-eval (median s) | with lm-eval-ext (median s) | ratio | runs |")
    print("|---|---:|---:|---:|---:|")
    for label, cmd in cases.items():
        runs = n if "ls" not in label else max(3, n // 4)
        on, off = [], []
        timed(cmd, True)  # warm the file cache
        for _ in range(runs):
            off.append(timed(cmd, False))
            on.append(timed(cmd, True))
        m_on, m_off = statistics.median(on), statistics.median(off)
        print(f"| `{label}` | {m_off:.3f} | {m_on:.3f} | {m_on / m_off:.3f} | {runs} |")


def index_against(other: str, n: int) -> None:
    import resource

    here = str(Path(__file__).resolve().parents[1])

    def run(path: str, autoload: bool) -> tuple[float, float]:
        env = {**os.environ, "PYTHONPATH": path, "LM_EVAL_EXT_AUTOLOAD": "1" if autoload else "0"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([str(BIN / "lm_eval"), "ls", "tasks"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (time.perf_counter() - start,
                after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    cases = {"plain lm-eval": (here, False), f"autoload of {other}": (other, True), "autoload of this checkout": (here, True)}
    got = {k: [] for k in cases}
    run(here, True)  # warm the file cache
    for _ in range(n):
        for k, (path, on) in cases.items():
            got[k].append(run(path, on))
    print("| `lm_eval ls tasks` | wall median (s) | CPU median (s) | runs |")
    print("|---|---:|---:|---:|")
    for k, vals in got.items():
        print(f"| {k} | {statistics.median(v[0] for v in vals):.2f} | {statistics.median(v[1] for v in vals):.2f} | {n} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--index-against":
        index_against(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
