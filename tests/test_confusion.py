"""The Language Confusion Benchmark scorer (metrics/confusion.py) and the ``lm-eval-ext confusion``
command against the official compute_metrics.py: its printed table and its compute_all_metrics
floats on a slice of the published completions of 4 models (tests/reference/lcb, made by running
the official script unchanged: PROVENANCE.md), and the rules its definition states, each on real
text."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from lm_eval_ext import cli
from lm_eval_ext.metrics import confusion
from lm_eval_ext.missing import NotComputed
from lm_eval_ext.reporting import confusion_csv

REF = Path(__file__).parent / "reference" / "lcb"
SLICE = REF / "slice" / "lcb_outputs_slice.csv"


@pytest.fixture(scope="module")
def words(shared_data):
    return confusion.english_words(str(shared_data / "lcb" / "en_words.txt"))


@pytest.fixture(scope="module")
def command_output(tmp_path_factory, shared_data, monkeypatch_module):
    """stdout and --json of `lm-eval-ext confusion` on the slice (in this process: one model load)."""
    monkeypatch_module.setenv("LM_EVAL_EXT_DATA_DIR", str(shared_data))
    out_json = tmp_path_factory.mktemp("lcb") / "rows.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    args = cli.build_parser().parse_args(["confusion", str(SLICE), "--json", str(out_json)])
    code = confusion_csv.run(args, out=stdout, err=stderr)
    assert code == 0, stderr.getvalue()
    return stdout.getvalue(), json.loads(out_json.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_table_is_the_official_table_string_for_string(command_output):
    table, _ = command_output
    assert table == (REF / "reference_table.txt").read_text(encoding="utf-8")


def test_every_float_equals_compute_all_metrics(command_output, words):
    """Every (task, model, source, language) row, the 'all' rows included: LPR, WPR and the
    unprinted acc within 1e-9 of the official floats, and the keys the script leaves out absent."""
    reference = json.loads((REF / "reference_metrics.json").read_text(encoding="utf-8"))["rows"]
    ours = confusion_csv.score_rows(confusion_csv.read_rows(SLICE), words)
    assert [(r["task"], r["model"], r["source"], r["language"]) for r in ours] == \
        [(r["task"], r["model"], r["source"], r["language"]) for r in reference]
    for a, b in zip(ours, reference):
        for key in ("acc", "lpr", "wpr"):
            if b[key] is None:
                assert a[key] is None, (a, b)
            else:
                assert abs(a[key] - b[key]) <= 1e-9, (key, a, b)
    # the slice exercises what it was cut for: empty WPR denominators, skipped replies
    assert sum(1 for r in reference if r["wpr"] == 1.0 and r["source"] != "all" and r["language"] != "all") > 10


def test_json_rows_carry_lcpr_the_harmonic_mean(command_output):
    _, rows = command_output
    overall = [r for r in rows if r["source"] == "all" and r["language"] == "all"]
    assert len(overall) == 8  # 4 models x (monolingual, crosslingual)
    for r in rows:
        assert set(r) == {"task", "model", "source", "language", "lpr", "wpr", "lcpr"}
        if r["wpr"] is None:
            assert r["lcpr"] is None
        elif r["lpr"] + r["wpr"] > 0:
            assert r["lcpr"] == pytest.approx(2 * r["lpr"] * r["wpr"] / (r["lpr"] + r["wpr"]), abs=1e-12)
            assert min(r["lpr"], r["wpr"]) - 1e-12 <= r["lcpr"] <= max(r["lpr"], r["wpr"]) + 1e-12


def test_the_lcpr_column_is_one_more_column(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("LM_EVAL_EXT_DATA_DIR", str(shared_data))
    rows = confusion_csv.read_rows(SLICE)[:30]
    scored = confusion_csv.score_rows(rows, confusion.english_words(str(shared_data / "lcb" / "en_words.txt")))
    plain, extra = confusion_csv.table(scored).splitlines(), confusion_csv.table(scored, with_lcpr=True).splitlines()
    assert [line.rsplit("\t", 1)[0] for line in extra] == plain


# ------------------------------------------------------------------ the rules, one by one
def test_normalization_cuts_strips_and_deletes_only_ascii_punctuation():
    text = confusion.scored_text("  Bonjour—le monde، «salut» ¿qué? …\nQ: next", strip_thinking=False)
    assert confusion.normalize(text) == "Bonjour le monde «salut» ¿qué …"
    assert confusion.scored_text("a\r\nQ: b", strip_thinking=False) == "a"  # \r\nQ: contains \nQ:
    assert confusion.scored_text("a\n Q: b", strip_thinking=False) == "a\n Q: b"


def test_tokens_follow_the_desired_language():
    assert confusion.tokens("我 爱 你", "zh") == ["我", " ", "爱", " ", "你"]  # jieba keeps whitespace pieces
    assert len(confusion.tokens("我爱你", "zh")) == 1
    assert confusion.tokens("Hello, world! 今日は。", "ja") == ["Hello", ",", "world", "!", "今日", "は", "。"]
    assert confusion.tokens("a  b\tc", "de") == ["a", "b", "c"]


def test_short_lines_are_dropped_and_a_reply_without_lines_is_skipped(shared_data):
    german = _flores(shared_data, "deu_Latn", 2)
    score = confusion.score_reply(f"Kurz.\n{german[0]}\nNoch kurz hier\n{german[1]}", "de")
    assert [line.index for line in score.lines] == [1, 3]
    assert not score.line_error
    assert confusion.score_reply("Ja, gut.\nDanke!", "de").skipped
    assert confusion.score_reply("", "de").skipped


def test_a_line_in_another_language_is_a_line_error_and_blocks_the_word_check(shared_data, words):
    de, en = _flores(shared_data, "deu_Latn", 1)[0], _flores(shared_data, "eng_Latn", 1)[0]
    mixed = confusion.score_reply(f"{de}\n{en}", "de", words)
    assert [line.label for line in mixed.lines] == ["de", "en"]
    assert mixed.line_error and not mixed.word_error and mixed.english_words == ()
    assert mixed.acc == 0.5


def test_english_words_count_only_lowercase_and_longer_than_three(shared_data, words):
    ru = _flores(shared_data, "rus_Cyrl", 1)[0]
    assert not confusion.score_reply(f"{ru} Computer AI the", "ru", words).word_error
    hit = confusion.score_reply(f"{ru} computer", "ru", words)
    assert hit.word_error and hit.english_words == ("computer",)


def test_the_threshold_makes_unknown(shared_data):
    line = "ok ok ok ok ok"  # five tokens lid.176 cannot place with confidence
    label, prob = confusion.line_label(line)
    assert (label == confusion.UNKNOWN) == (prob <= confusion.THRESHOLD)


def test_empty_denominators_official_vs_ours():
    empty = confusion.Counts(replies=3)
    assert confusion.rates(empty, "zh") == {"acc": 1.0, "lpr": 1.0, "wpr": 1.0}
    assert confusion.rates(empty, "zh", official=False) == {"acc": None, "lpr": None, "wpr": None}
    every_line_wrong = confusion.Counts(scored=4, line_errors=4, replies=4)
    assert confusion.rates(every_line_wrong, "ar")["wpr"] == 1.0
    assert confusion.rates(every_line_wrong, "ar", official=False)["wpr"] is None


def test_the_task_aggregation_averages_sources_and_names_an_empty_one():
    items = [("okapi", 1, 1, []), ("okapi", 0, 1, []), ("okapi", 1, 1, []), ("sharegpt", 1, 1, []),
             ("sharegpt", 0, 0, [])]
    assert confusion.lpr_aggregation(items) == (1 - 1 / 3 + 1.0) / 2  # not the reply mean 3/4
    value = confusion.lpr_aggregation([("okapi", 0, 0, []), ("sharegpt", 1, 1, [])])
    assert isinstance(value, NotComputed) and math.isnan(value) and "okapi" in value.skip.reason
    assert isinstance(confusion.lpr_aggregation([]), NotComputed)
    # LCPR: harmonic mean of the task's LPR and WPR; LPR alone without WPR
    assert confusion.lcpr_aggregation([("s", 1, 2, 1, 1)]) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert confusion.lcpr_aggregation([("s", 1, 2, None, None)]) == 0.5


def test_reasoning_is_stripped_and_an_unfinished_block_counted(shared_data):
    de = _flores(shared_data, "deu_Latn", 1)[0]
    thought = "<think>The user writes German, so I answer in German and nothing else at all.</think>\n"
    assert not confusion.score_reply(f"{thought}{de}", "de").line_error
    cut = confusion.score_reply("<think>Let me think about this question for a while in English", "de")
    assert cut.skipped and cut.unfinished_reasoning
    kept = confusion.score_reply(f"{thought}{de}", "de", strip_thinking=False)
    assert kept.line_error  # the official script would judge the English thought


def test_the_signature_names_the_model_file_by_hash():
    sig = confusion.signature()
    path = confusion.lid_path()
    assert f"lid:{path.name}@sha256:{confusion.file_sha256(str(path))[:12]}" in str(sig)
    assert "unidic" in str(sig)


def test_a_local_model_file_setting_is_used_and_a_missing_one_named(monkeypatch, tmp_path):
    real = confusion.lid_path()
    copy = tmp_path / "lid.176.ftz"
    copy.write_bytes(real.read_bytes())
    monkeypatch.setenv(confusion.LID_MODEL_ENV, str(copy))
    assert confusion.lid_path() == copy
    monkeypatch.setenv(confusion.LID_MODEL_ENV, str(tmp_path / "lid.176.bin"))
    with pytest.raises(confusion.ConfusionUnavailable, match="lid.176.bin: no such file"):
        confusion.lid_path()


# ------------------------------------------------------------------ bad files
@pytest.mark.parametrize("content,where", [
    ("task,model,source,completion\nmonolingual,m,okapi,x\n", ":1: header lacks the column(s) language"),
    ("task,model,source,language,completion\nmonolingual,m,okapi,de,hallo\nmonolingual,m,okapi\n",
     ":3: column 4 (language): the record has 3 fields"),
    ("task,model,source,language,completion\nmonolingual,m,okapi,de,\"a\nb\"\nmonolingual,m,okapi,de,x,y\n",
     ":4: column 6 ((none)): the record has 6 fields"),
    ("task,model,source,language,completion\n,m,okapi,de,x\n", ":2: column 1 (task) is empty"),
    ("", ":1: empty file"),
])
def test_bad_files_name_file_line_and_column(tmp_path, shared_data, content, where):
    path = tmp_path / "outputs.csv"
    path.write_text(content, encoding="utf-8")
    err = io.StringIO()
    args = cli.build_parser().parse_args(["confusion", str(path), "--words", str(shared_data / "lcb" / "en_words.txt")])
    assert confusion_csv.run(args, out=io.StringIO(), err=err) == 2
    assert f"{path}{where}" in err.getvalue()


def test_bytes_that_are_not_utf8_are_named(tmp_path, shared_data):
    path = tmp_path / "outputs.csv"
    path.write_bytes(b"task,model,source,language,completion\nmonolingual,m,okapi,de,gr\xfc\xdf\n")
    err = io.StringIO()
    args = cli.build_parser().parse_args(["confusion", str(path), "--words", str(shared_data / "lcb" / "en_words.txt")])
    assert confusion_csv.run(args, out=io.StringIO(), err=err) == 2
    assert f"{path}:2: column 26" in err.getvalue() and "0xfc" in err.getvalue()


def test_without_the_word_list_the_command_says_how_to_give_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LM_EVAL_EXT_DATA_DIR", raising=False)
    monkeypatch.delenv(confusion.WORDS_ENV, raising=False)
    err = io.StringIO()
    args = cli.build_parser().parse_args(["confusion", str(SLICE)])
    assert confusion_csv.run(args, out=io.StringIO(), err=err) == 2
    assert "--words FILE" in err.getvalue()


def _flores(shared_data, code, n):
    with open(shared_data / "flores" / f"{code}.devtest.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh][:n]
