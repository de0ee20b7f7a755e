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
