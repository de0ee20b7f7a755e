"""Old module paths, kept for one release: task YAMLs users copied name them
(``!function lm_eval_ext.mgsm.AnswerFilter``). Each old module is a thin shim whose
attributes are those of the new modules; importing it warns with the new path."""

from __future__ import annotations

import importlib
import warnings


def forward(old: str, *new: str):
    """The module ``__getattr__`` of the shim `old`: attributes of the modules `new`, in order."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release: use {new[0]}",
                  DeprecationWarning, stacklevel=3)
    modules = [importlib.import_module(name) for name in new]

    def __getattr__(name: str):
        for module in modules:
            try:
                return getattr(module, name)
            except AttributeError:
                continue
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {', '.join(new)})")

    return __getattr__


def omitting_none(process_results):
    """The old contract of ``process_results`` for task files that name an old path: a
    metric that does not apply to a document is left out, not None. Those files
    aggregate ``lang_fidelity`` and ``exact_match_in_lang`` with lm-eval's plain
    ``mean``, which cannot take None (the new files use ``langid.mean_decidable``)."""

    def wrapped(doc: dict, results: list) -> dict:
        return {k: v for k, v in process_results(doc, results).items() if v is not None}

    wrapped.__doc__ = process_results.__doc__
    return wrapped
