"""Environment for a subprocess in which a package of ours is shadowed by another one of the
same module name (the unrelated PyPI ``lingua``, a gettext toolset, vs lingua-language-detector),
or by a stand-in that breaks at a chosen point: the tests of optional extras.

`shadowing_env` writes each stand-in as ``<folder>/<module>/__init__.py`` (optionally with a
``<dist>-<version>.dist-info`` claiming it, as pip would install it) and puts the folder first
on PYTHONPATH, before site-packages; installed distributions can be hidden from
``importlib.metadata`` at the same time (tests/support/hide_packages)."""

from __future__ import annotations

import os
from pathlib import Path

from support.hidden import HIDE_DIR


def shadowing_env(folder: Path, modules: dict[str, str], distribution: tuple[str, str] | None = None,
                  hide_distributions: str = "") -> dict:
    """Variables to add to a subprocess's environment: each of `modules` (top-level name ->
    source of its ``__init__.py``) imports from `folder`; `distribution` (name, version)
    installs them under that distribution's name; `hide_distributions` (comma-separated)
    makes installed distributions look absent."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "__init__.py").write_text(source, encoding="utf-8")
    if distribution is not None:
        dist, version = distribution
        info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
        (info / "top_level.txt").write_text("".join(f"{name}\n" for name in modules), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(folder), str(HIDE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "LM_EVAL_EXT_TEST_HIDE_DISTS": hide_distributions}
