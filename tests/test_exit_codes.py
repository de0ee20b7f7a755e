"""Bad input and environments that cannot work exit 2 with a message naming the value, never
70 ("internal error, a bug") with a traceback: ``lm-eval-ext self-translate`` given an
impossible --limit, an unknown backend, a model server that refuses connections, no data
folder and no hub. (neural-env: tests/test_neural_side_env.py.)"""

from __future__ import annotations

import socket

import pytest
from support.env import run_cli


def self_translate(*args, env=None, tmp_path):
    return run_cli(["lm-eval-ext", "self-translate", "--tasks", "mgsm", "--langs", "de", "--limit", "1",
                    *args, "--output_path", str(tmp_path / "out")], env=env, timeout=600)


def assert_bad_input(proc, *named):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-3000:]
    for text in named:
        assert text in proc.stderr, (text, proc.stderr[-3000:])


@pytest.mark.parametrize("limit", ["inf", "lots"])
def test_an_impossible_limit(limit, tmp_path):
    assert_bad_input(self_translate("--model", "hf", "--limit", limit, tmp_path=tmp_path),
                     f"error: --limit {limit}: must be a finite number > 0")


def test_an_unknown_model_backend(tmp_path):
    assert_bad_input(self_translate("--model", "nosuchbackend", tmp_path=tmp_path),
                     "error: --model nosuchbackend: lm-eval has no such model backend (known: ", "local-completions")


def _refusing_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/chat/completions"


@pytest.mark.parametrize("concurrent", [1, 2])  # lm-eval's requests path and its aiohttp path
def test_a_model_server_that_refuses_connections(concurrent, tmp_path):
    url = _refusing_url()
    proc = self_translate("--model", "local-chat-completions", "--apply_chat_template", "--model_args",
                          f"model=m,base_url={url},max_retries=1,num_concurrent={concurrent}", tmp_path=tmp_path)
    assert_bad_input(proc, f"error: the connection to the model server {url} failed (", "is it running there?")


def test_no_data_folder_and_no_hub(tmp_path):
    proc = self_translate("--model", "hf", "--model_args", "pretrained=/nonexistent", tmp_path=tmp_path,
                          env={"LM_EVAL_EXT_DATA_DIR": "", "HF_HOME": str(tmp_path / "empty-hf-home"),
                               "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert_bad_input(proc, "LM_EVAL_EXT_DATA_DIR is not set", "Couldn't reach 'juletxara/mgsm'",
                     "set LM_EVAL_EXT_DATA_DIR to a folder holding mgsm/mgsm_de.jsonl, mgsm/mgsm_de.train.jsonl")
