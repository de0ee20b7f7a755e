"""Import-time overhead of our task discovery, as ratios measured in one run.

Runs each command N times, alternating hook on (default) and off
(LM_EVAL_EXT_AUTOLOAD=0, i.e. plain lm-eval), and reports medians:
- `python -c pass`: the .pth hook alone at interpreter start;
- `lm_eval --help`: the CLI users type;
- `lm_eval ls tasks`: task indexing (lm-eval's ~10k YAMLs plus ours).

    python benchmarks/startup.py [N]
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
