"""Make installed packages look absent, for the tests of optional extras.

With this folder on PYTHONPATH and ``LM_EVAL_EXT_TEST_HIDE=lingua,MeCab,gguf``,
Python starts as if those top-level packages were not installed: every finder
on ``sys.meta_path`` answers None for them, so ``import lingua`` raises the
usual ModuleNotFoundError and ``importlib.util.find_spec("gguf")`` is None (what
transformers checks). Python imports ``sitecustomize`` after the site-packages
``.pth`` files, so our own autoload finder is wrapped too.
"""

import os
import sys

HIDDEN = frozenset(name for name in os.environ.get("LM_EVAL_EXT_TEST_HIDE", "").split(",") if name)


class _Hiding:
    def __init__(self, finder):
        self._finder = finder

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in HIDDEN:
            return None
        find = getattr(self._finder, "find_spec", None)
        return find(fullname, path, target) if find else None

    def __getattr__(self, name):  # invalidate_caches, find_distributions, ...
        return getattr(self._finder, name)


if HIDDEN:
    sys.meta_path[:] = [_Hiding(finder) for finder in sys.meta_path]
