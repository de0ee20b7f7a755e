"""Test data for the QA families: an MLQA-format folder built from the parallel
XQuAD items (no MLQA copy is in ../shared/data; all 7 MLQA languages are in
XQuAD), next to symlinks to the real families."""

from __future__ import annotations

import json
from pathlib import Path

from lm_eval_ext.languages import MLQA_LANGS
from lm_eval_ext.families.qa import xquad_articles

MLQA_TEST_ITEMS = 24  # the first items (articles 0-1) make the test split
MLQA_DEV_ITEMS = 30  # the last items (the last article) make the dev split


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def xquad_rows(shared_data: Path, lang: str) -> list[dict]:
    return read_jsonl(shared_data / "xquad" / f"xquad.{lang}.jsonl")


def build_data_dir(shared_data: Path, out: Path) -> Path:
    """out/mlqa/mlqa.<ctx>.<q>.{test,dev}.jsonl for the 49 pairs (SQuAD fields
    plus MLQA's `title`), out/<family> -> shared_data/<family> for the rest."""
    out.mkdir(parents=True, exist_ok=True)
    for family in sorted(p.name for p in shared_data.iterdir() if p.is_dir()):
        (out / family).symlink_to(shared_data / family, target_is_directory=True)
    mlqa = out / "mlqa"
    mlqa.mkdir()
    rows = {lang: xquad_rows(shared_data, lang) for lang in MLQA_LANGS}
    articles = xquad_articles(rows["en"])
    n = len(rows["en"])
    splits = {"test": range(MLQA_TEST_ITEMS), "dev": range(n - MLQA_DEV_ITEMS, n)}
    for ctx in MLQA_LANGS:
        for q in MLQA_LANGS:
            for split, idx in splits.items():
                with open(mlqa / f"mlqa.{ctx}.{q}.{split}.jsonl", "w", encoding="utf-8") as fh:
                    for i in idx:
                        c, qq = rows[ctx][i], rows[q][i]
                        assert c["id"] == qq["id"]
                        item = {"id": c["id"], "title": f"xquad-article-{articles[i]}", "context": c["context"],
                                "question": qq["question"], "answers": c["answers"]}
                        fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return out
