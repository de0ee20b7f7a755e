"""Make installed packages look absent, for the tests of optional extras.

With this folder on PYTHONPATH and ``LM_EVAL_EXT_TEST_HIDE=lingua,MeCab,gguf``,
Python starts as if those top-level packages were not installed: every finder
on ``sys.meta_path`` answers None for them, so ``import lingua`` raises the
usual ModuleNotFoundError and ``importlib.util.find_spec("gguf")`` is None (what
transformers checks). Python imports ``sitecustomize`` after the site-packages
``.pth`` files, so our own autoload finder is wrapped too.

``LM_EVAL_EXT_TEST_HIDE_DISTS=lingua-language-detector`` hides installed distributions
from ``importlib.metadata`` the same way (pip's view: "not installed").
"""

import os
import sys

HIDDEN = frozenset(name for name in os.environ.get("LM_EVAL_EXT_TEST_HIDE", "").split(",") if name)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


HIDDEN_DISTS = frozenset(_canonical(n) for n in os.environ.get("LM_EVAL_EXT_TEST_HIDE_DISTS", "").split(",") if n)


class _Hiding:
    def __init__(self, finder):
        self._finder = finder

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in HIDDEN:
            return None
        find = getattr(self._finder, "find_spec", None)
        return find(fullname, path, target) if find else None

    def find_distributions(self, *args, **kwargs):
        find = getattr(self._finder, "find_distributions", None)
        for dist in find(*args, **kwargs) if find else ():
            if _canonical(dist.metadata["Name"] or "") not in HIDDEN_DISTS:
                yield dist

    def __getattr__(self, name):  # invalidate_caches, ...
        return getattr(self._finder, name)


if HIDDEN or HIDDEN_DISTS:
    sys.meta_path[:] = [_Hiding(finder) for finder in sys.meta_path]
