"""Every MGSM task builds its prompts from the real data (11 languages x 3 modes)."""

import json
import re
import subprocess
import sys

import pytest

from lm_eval_ext import languages, plugin, resources
from lm_eval_ext.languages import MGSM_LANGS
from lm_eval_ext.families.mgsm import MODES, TASK_VERSION

TASKS = [f"mgsm_{mode}_{lang}" for mode in MODES for lang in MGSM_LANGS]


@pytest.fixture(scope="module")
def manager():
    from lm_eval.tasks import TaskManager

    return TaskManager()  # our autoload hook adds tasks/ with no include_path


@pytest.fixture(scope="module")
def loaded(manager):
    return manager.load(TASKS)["tasks"]


def _lm_eval_cut(text, until):
    """lm-eval's HF generate_until post-processing: the text before the first stop sequence."""
    for term in until:
        text = text.split(term)[0]
    return text


def _jsonl(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_generated_files_are_fresh():
    proc = subprocess.run([sys.executable, str(resources.tasks_dir() / "mgsm" / "_generate.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_task_manager_sees_ours_without_include_path(manager, loaded):
    assert set(loaded) == set(TASKS)
    for name, task in loaded.items():
        assert plugin.is_ours(manager.task_index[name].yaml_path), name  # ours, not the built-in
        assert task.config.metadata["scorer"].startswith("mgsm-numeric:v1|lang:" + name.rsplit("_", 1)[1])
        assert task.config.metadata["version"] == TASK_VERSION
    for group in ("mgsm_direct", "mgsm_native_cot", "mgsm_en_cot"):
        assert sorted(plugin.leaf_tasks(group)) == sorted(t for t in TASKS if t.startswith(group + "_"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lang", MGSM_LANGS)
def test_prompts_from_real_data(loaded, shared_data, mode, lang):
    task = loaded[f"mgsm_{mode}_{lang}"]
    L = languages.get(lang)
    raw_test = _jsonl(shared_data / "mgsm" / f"mgsm_{lang}.jsonl")
    raw_train = _jsonl(shared_data / "mgsm" / f"mgsm_{lang}.train.jsonl")
    docs = list(task.test_docs())
    shots = list(task.fewshot_docs())
    assert len(docs) == 250 and len(shots) == 8
    assert [d["answer_number"] for d in docs] == [r["answer_number"] for r in raw_test]
    assert docs[0]["question"] == raw_test[0]["question"]
    assert [s["item_id"] for s in shots] == list(range(8))  # the paper's exemplars, in order

    q_prefix = L.mgsm.question
    reason = languages.get("en" if mode == "en_cot" else lang)
    cue = L.mgsm.answer_prefix if mode == "direct" else reason.mgsm.cot_cue

    # 0-shot (chat): instruction as system message, the question with its cue.
    zero = task.fewshot_context(docs[3], num_fewshot=0)
    assert raw_test[3]["question"] in zero and zero.rstrip().endswith(cue)
    instruction = L.mgsm.direct_instruction if mode == "direct" else reason.mgsm.cot_instruction
    assert zero.startswith(instruction)

    # 8-shot: the 8 exemplars in order, each in the test item's format, then the item.
    eight = task.fewshot_context(docs[3], num_fewshot=8)
    assert eight.count(q_prefix) == 9
    assert raw_train[0]["question"] in eight and raw_train[7]["question"] in eight
    assert eight.index(raw_train[0]["question"]) < eight.index(raw_train[7]["question"]) < eight.index(raw_test[3]["question"])
    if mode == "native_cot":
        # the exemplar's own reasoning and answer sentence, localized cue once per exemplar
        assert raw_train[0]["answer"][len(cue):].strip() in eight
        assert eight.count(cue) == 9
    elif mode == "en_cot":
        en_train = _jsonl(shared_data / "mgsm" / "mgsm_en.train.jsonl")
        english_cot = en_train[0]["answer"][len("Step-by-Step Answer:"):].strip()
        assert english_cot in eight and "The answer is 11." in eight
        if lang != "en":
            assert raw_train[0]["answer"] not in eight  # native reasoning is not shown
    else:
        assert f"{cue}{task.config.target_delimiter}11" in eight  # direct: the number only

    # Stops: never a bare newline in CoT (it would cut the reasoning).
    until = task.config.generation_kwargs["until"]
    assert "\n" + q_prefix in until
    assert ("\n" in until) == (mode == "direct")
    # A label stops the reply only at a line start (a new question the model invents); mid-line it
    # is a word of the reasoning: SmolLM2 opens Thai replies with "แก้โจทย์: ..." ("solving the problem").
    reasoning = f"แก้{q_prefix} 2 + 3 = 5"
    assert _lm_eval_cut(reasoning, until) == reasoning
    assert _lm_eval_cut(f"{reasoning}\n{q_prefix} 1 + 1?", until) == reasoning


def test_include_defaults_false_indexes_only_the_given_path(tmp_path):
    """lm-eval's own contract (its tests/test_task_manager.py): no default task, ours included."""
    from lm_eval.tasks import TaskManager

    (tmp_path / "only_mine.yaml").write_text(
        "task: only_mine\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: items.jsonl\n"
        "output_type: generate_until\ntest_split: test\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\n"
        "metric_list:\n  - metric: exact_match\n", encoding="utf-8")
    manager = TaskManager(include_defaults=False, include_path=str(tmp_path))
    assert manager.all_tasks == ["only_mine"]
    both = TaskManager(include_path=str(tmp_path))  # the default: lm-eval's, ours, and the path
    assert "only_mine" in both.all_tasks and "mgsm_native_cot_de" in both.all_tasks
    assert plugin.is_ours(both.task_index["mgsm_native_cot_de"].yaml_path)


# ------------------------------------------------------------- data errors
def _mgsm_copy(shared_data, tmp_path, lang="de"):
    root = tmp_path / "data"
    (root / "mgsm").mkdir(parents=True)
    for name in (f"mgsm_{lang}.jsonl", f"mgsm_{lang}.train.jsonl"):
        (root / "mgsm" / name).write_bytes((shared_data / "mgsm" / name).read_bytes())
    return root, root / "mgsm" / f"mgsm_{lang}.jsonl"


def test_a_non_numeric_answer_names_file_line_and_field(shared_data, tmp_path):
    from lm_eval_ext import families
    from lm_eval_ext.families import mgsm

    root, path = _mgsm_copy(shared_data, tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[4])
    row["answer_number"] = "eighteen"
    lines[4] = json.dumps(row, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    where = re.escape(str(path))
    with pytest.raises(families.DataFormatError, match=rf"{where}:5: field answer_number is 'eighteen', not a number"):
        mgsm.load_local(root, "de")
    # the hub's rows go through the same check, named by language, split and item
    with pytest.raises(families.DataFormatError, match=r"MGSM de test item 4 \(row 5\): field answer_number is 'eighteen'"):
        mgsm.normalize("de", [json.loads(x) for x in lines], [])


def test_a_byte_that_is_not_utf8_names_file_and_line(shared_data, tmp_path):
    from lm_eval_ext import families
    from lm_eval_ext.families import mgsm

    root, path = _mgsm_copy(shared_data, tmp_path)
    raw = path.read_bytes().split(b"\n")
    raw[6] = raw[6].replace(b'"question": "', b'"question": "\xe4', 1)  # a Latin-1 "ä" in a UTF-8 file
    path.write_bytes(b"\n".join(raw))
    with pytest.raises(families.DataFormatError, match=rf"{re.escape(str(path))}:7: not UTF-8 \(byte 0xe4 at column \d+\)"):
        mgsm.load_local(root, "de")
