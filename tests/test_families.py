"""The family registry is what the rest of the package reads: every task file of ours names
its family and that family's language keys; the run-folder reader, the judge, rescore and
the consistency command ask the registry, not the task name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lm_eval_ext import families, plugin, resources
from lm_eval_ext.families import Pairing
from lm_eval_ext.judge import protocols as P
from lm_eval_ext.reporting.rows import generic_task_languages, task_languages


@pytest.fixture(scope="module")
def our_tasks():
    from lm_eval.tasks._index import Kind

    index = plugin.task_index()
    return {name: entry.cfg for name, entry in index.items() if entry.kind in (Kind.TASK, Kind.PY_TASK)}


def test_every_task_of_ours_names_a_registry_family_and_its_language_keys(our_tasks):
    # MGSM, XQuAD, MLQA, FLORES (203 languages x 2), consistency (2 + PolyMath's), PolyMath (3 modes),
    # self-translate (stages 1 and 2 of MGSM, XQuAD, PolyMath), LCB (15 monolingual, 14 cross-lingual)
    assert len(our_tasks) == 33 + 144 + 49 + 406 + 3 + 3 * 72 + 2 * (10 + 11 + 17) + 15 + 14
    for name, cfg in our_tasks.items():
        family = families.of_config(cfg)
        assert family is not None, name
        kwargs = cfg["dataset_kwargs"]
        assert kwargs["task"] == name
        codes = family.task_languages(kwargs)
        assert codes is not None, name  # the family's keys are there
        if family.pairing is Pairing.PARALLEL:
            assert codes == () and families.items_family(cfg).parallel is not None, name
        else:
            assert len(codes) == (1 if family.pairing is Pairing.SINGLE or "lang" in kwargs else 2), name


def test_the_registry_and_the_task_names_agree_on_every_task_of_ours(our_tasks):
    """The reader takes our tasks' languages from the registry; on our own task files that is
    what the generic name rule reads too (so runs of the previous release read the same).
    PolyMath (new) puts the level after the language: the registry's table is polymath_<level>."""
    for name, cfg in our_tasks.items():
        if cfg["dataset_kwargs"]["family"] == "polymath":
            level = cfg["dataset_kwargs"]["level"]
            assert task_languages(name, cfg) == (name.replace(f"_{cfg['dataset_kwargs']['lang']}_{level}", f"_{level}"),
                                                 (cfg["dataset_kwargs"]["lang"],)), name
            continue
        assert task_languages(name, cfg) == generic_task_languages(name, cfg), name


def test_the_registry_wins_over_a_misleading_task_name():
    qa_config = {"dataset_kwargs": {"family": "xquad", "ctx_lang": "deu_Latn", "q_lang": "en"}}
    # a QA task whose name reads like a translation task: the registry says QA
    assert P.choose("flores_like_qa_de", "flores_like_qa", {}, [], qa_config) == "qa_equiv"
    assert P.choose("flores_like_qa_de", "flores_like_qa", {}, []) == "da"  # no config: the generic rule
    assert task_languages("flores_like_qa_de", qa_config) == ("flores_like_qa", ("de", "en"))
    # the consistency task is judged as its source family's tasks
    xlc_config = {"dataset_kwargs": {"family": "xlc", "source": "xquad"}}
    assert P.choose("xlc_xquad", "xlc_xquad", {}, [], xlc_config) == "qa_equiv"
    # a family of ours answers the judge's language question from its keys
    mgsm_config = {"dataset_kwargs": {"family": "mgsm", "lang": "sw", "mode": "en_cot"}}
    assert P.response_language("math_cot", "my_task", ("sw",), {"lang": "sw"}, mgsm_config) == "en"


def test_unknown_families_and_sources_are_named():
    with pytest.raises(families.DataNotFoundError, match="unknown task family 'nope'; known: mgsm, xquad, mlqa"):
        families.get("nope")
    assert families.of_config({"dataset_kwargs": {"family": "nope"}}) is None  # not ours: generic rules
    from lm_eval_ext.families import xlc

    with pytest.raises(families.DataNotFoundError, match="no consistency family 'flores'; known: mgsm, xquad"):
        xlc.source_family("flores")


def test_our_task_files_name_no_deprecated_module():
    """Generated files and the hand-written common bases: every `!function` resolves, and
    each names a module of the layers task files may use (no removed 0.1.0 path)."""
    from importlib import import_module

    tasks = Path(resources.tasks_dir())
    seen = set()
    for path in [*tasks.rglob("*.yaml"), *tasks.rglob("_*_common_yaml")]:
        for dotted in re.findall(r"!function '?([\w.]+)'?", path.read_text(encoding="utf-8")):
            seen.add(dotted)
    assert len(seen) > 20
    for dotted in sorted(seen):
        module, _, name = dotted.rpartition(".")
        assert module.split(".")[1] in ("families", "metrics", "runtime"), dotted
        assert callable(getattr(import_module(module), name)), dotted
