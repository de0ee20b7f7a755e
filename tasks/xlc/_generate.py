"""Write the consistency task files (xlc_<family>.yaml): one per family of the registry
with a consistency adapter (lm_eval_ext/families/; the task code is families/xlc.py).

Run after changing a family adapter or the language registry:
    python tasks/xlc/_generate.py
`--check` exits non-zero when a file on disk differs (used by the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import lm_eval_ext
from lm_eval_ext import plugin
from lm_eval_ext import families
from lm_eval_ext.families import taskgen, xlc
from lm_eval_ext.families.taskgen import Function
from lm_eval_ext.metrics import langid

HERE = Path(__file__).resolve().parent
SCRIPT = "tasks/xlc/_generate.py"
HEADER = taskgen.header(SCRIPT, "lm_eval_ext/families/ (the families' consistency adapters)")


def task_config(source: str) -> dict:
    fam = families.get(source)
    adapter = fam.parallel
    name = f"xlc_{source}"
    metrics = xlc.metric_list(source)
    for m in metrics:
        m["aggregation"] = Function(m["aggregation"])
    return {
        "task": name,
        "dataset_path": name,  # nothing on the hub: families.load() builds the items x languages
        "custom_dataset": Function.of(families.load),
        # no `lang` key: the task has every language; its metric names carry them
        "dataset_kwargs": {"family": xlc.FAMILY.name, "source": source, "task": name},
        "output_type": "generate_until",
        "test_split": "test",
        # --num_fewshot: the doc's own language's exemplars (see SameLanguageSampler)
        "fewshot_split": "test",
        "fewshot_config": {"sampler": Function.of(xlc.SameLanguageSampler)},
        "fewshot_delimiter": "\n\n",
        "target_delimiter": "",  # each doc's xlc_target starts with its language's own delimiter
        "description": "xlc_instruction",  # the doc's field: each language its own instruction
        "doc_to_text": "xlc_prompt",
        "doc_to_target": "xlc_target",  # exemplars' answers; for test docs only logged
        "generation_kwargs": {"until": xlc.task_stops(source), "do_sample": False, "temperature": 0.0,
                              "max_gen_toks": adapter.max_gen_toks},
        "filter_list": [
            {"name": fname, "filter": [
                {"function": Function.of(xlc.AnswerFilter), "source": source, "strategy": strategy},
                {"function": "take_first"},
            ]}
            for fname, strategy in adapter.filters
        ],
        "process_results": Function.of(xlc.process_results),
        "metric_list": metrics,
        "metadata": {
            "version": xlc.TASK_VERSION,
            "lm_eval_ext_version": lm_eval_ext.__version__,
            # what the results say until lm-eval-ext's results hook replaces it with "ok"
            "lm_eval_ext": {"annotation": plugin.ANNOTATION_UNAVAILABLE},
            "langs": list(fam.languages),
            "prompt_mode": adapter.mode,
            "scorer": adapter.scorer,
            "fidelity_scorer": langid.SIGNATURE,
        },
    }


def expected_files() -> dict[Path, str]:
    return {
        HERE / f"xlc_{fam.name}.yaml": taskgen.dump(task_config(fam.name), HEADER)
        for fam in families.parallel_families()
    }


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    return taskgen.sync(expected_files(), SCRIPT, check)


if __name__ == "__main__":
    sys.exit(main())
