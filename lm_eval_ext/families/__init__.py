"""The registry of task families: one `base.Family` per family, one line each.

Our tasks carry ``dataset_kwargs.family`` (and the language keys their family
names); everything that needs to know a family asks here: data loading (`load`,
the ``custom_dataset`` of every task, and `check_available` before a model
loads), the consistency task and command (`parallel_families`), the judge, rescore,
the run-folder reader and ``lm-eval-ext tasks`` (`of_config`). Tasks that are not
ours (any lm-eval task in a run folder) are not in the registry: their readers
keep their generic rules.

Adding a family: its module here (a `Family` named ``FAMILY``), its task folder
under ``tasks/`` with a generator, and one line below (ARCHITECTURE.md).

The data setting is ``LM_EVAL_EXT_DATA_DIR``: unset, tasks load their hub
datasets; set to a folder laid out like ``shared/data`` (``mgsm/``, ``xquad/``,
``mlqa/``, ``flores/``, ``polymath/`` with JSONL files carrying the hub's field names), the same
tasks read those files. A missing file raises `DataNotFoundError` naming the path
and the task.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from lm_eval_ext.families import flores, lcb, mgsm, polymath, qa, self_translate, xlc
from lm_eval_ext.families.base import (DATA_DIR_ENV, DataFormatError, DataNotFoundError, Family, Pairing, hub_data,
                                       local_root, read_jsonl)

__all__ = ["DATA_DIR_ENV", "FAMILIES", "DataFormatError", "DataNotFoundError", "Family", "Pairing", "check_available",
           "get", "items_family", "load", "local_root", "of_config", "parallel_families", "read_jsonl"]

FAMILIES: Mapping[str, Family] = MappingProxyType({family.name: family for family in (
    mgsm.FAMILY,
    qa.XQUAD,
    qa.MLQA,
    flores.FAMILY,
    polymath.FAMILY,
    xlc.FAMILY,
    *self_translate.FAMILIES,
    lcb.FAMILY,
)})


def get(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise DataNotFoundError(f"unknown task family {name!r}; known: {', '.join(FAMILIES)}") from None


def of_config(config) -> Family | None:
    """The family of one of our tasks, from its config (``dataset_kwargs.family``); None for
    any other task (and for a family name the registry does not know)."""
    kwargs = config.get("dataset_kwargs") if isinstance(config, Mapping) else None
    name = kwargs.get("family") if isinstance(kwargs, Mapping) else None
    return FAMILIES.get(name) if isinstance(name, str) else None


def items_family(config) -> Family | None:
    """The family whose items a task evaluates: its own, or for a consistency task
    (``Pairing.PARALLEL``) the family its ``dataset_kwargs.source`` names."""
    family = of_config(config)
    if family is not None and family.pairing is Pairing.PARALLEL:
        return FAMILIES.get(str((config.get("dataset_kwargs") or {}).get("source")))
    return family


def parallel_families() -> list[Family]:
    """The families with a consistency adapter, in registry order."""
    return [family for family in FAMILIES.values() if family.parallel is not None]


def check_available(task: str | None = None, family: str = "", limit=None, model_args=None, preflight=True,
                    samples=None, cache_requests=None, model=None, **kwargs) -> None:
    """Raise DataNotFoundError when local data is selected and a file is missing, or (`preflight`:
    before a model loads) when the family's `preflight` finds a problem (`limit`, `model_args`,
    `samples`, `cache_requests`, `model`: the run's, as lm-eval's EvaluatorConfig holds them).

    Hub data cannot be checked without a download; it fails at load time with
    the hub's own message."""
    fam = get(family)
    if preflight and fam.preflight is not None:
        fam.preflight(task=task, limit=limit, model_args=model_args, samples=samples, cache_requests=cache_requests,
                      model=model, **kwargs)
    root = local_root()
    if root is None:
        return
    if not root.is_dir():
        raise DataNotFoundError(f"{DATA_DIR_ENV}={root} is not a directory (task {task or family})")
    for rel in fam.required_files(**kwargs):
        path = root / rel
        if not path.is_file():
            raise DataNotFoundError(
                f"task {task or family}: data file {path} not found "
                f"({DATA_DIR_ENV}={root}; expected layout: {rel})"
            )


def load(family: str, task: str | None = None, **kwargs):
    """The ``custom_dataset`` of every one of our tasks: returns a DatasetDict."""
    fam = get(family)
    root = local_root()
    if root is None:
        with hub_data(f"task {task or family}", fam.required_files(**kwargs)):
            return fam.load_hub(**kwargs)
    check_available(task=task, family=family, preflight=False, **kwargs)  # the loader checks what it reads
    return fam.load_local(root, **kwargs)
