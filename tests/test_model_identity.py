"""One model identity (lm_eval_ext.model_identity): arguments parsed the way lm-eval parses them,
the checkpoint keyed by what lm-eval records, request-only settings left out."""

from __future__ import annotations

import pytest
from lm_eval._cli.utils import key_val_to_dict
from lm_eval.utils import simple_parse_args_string

from lm_eval_ext import model_identity as mi

CHAT = "local-chat-completions"


@pytest.mark.parametrize("text", [
    "pretrained=org/m,dtype=bfloat16,trust_remote_code=true,max_length=4096,temperature=0.90",
    "model=m,verify_certificate=True,seed=-1,top_p=1e-1,x=None,y=false",
    "pretrained=/models/a b,revision=v1.0,batch_size=auto",
])
def test_values_parse_as_lm_eval_parses_them(text):
    assert mi.parse_model_args(text) == simple_parse_args_string(text)  # the Python API / route (a)
    assert mi.parse_model_args(text) == key_val_to_dict(text)  # the CLI


def test_quoted_commas_and_literals_as_the_cli_reads_them():
    text = "model=m,stop='a,b',ids=[1,2],extra={\"k\": 1}"
    assert mi.parse_model_args(text) == key_val_to_dict(text) == {"model": "m", "stop": "a,b", "ids": [1, 2],
                                                                  "extra": {"k": 1}}


def test_a_string_and_lm_eval_s_dict_of_the_same_arguments_are_one_model():
    url = "http://127.0.0.1:8000/v1/chat/completions"
    as_string = mi.identity(CHAT, f"model=m,base_url={url},verify_certificate=true,temperature=0.90")
    as_dict = mi.identity(CHAT, key_val_to_dict(f"model=m,base_url={url},verify_certificate=True,temperature=0.9"))
    assert as_string == as_dict and as_string.key == as_dict.key
    assert mi.identity(CHAT, "model=m,temperature=1").key == mi.identity(CHAT, "model=m,temperature=1.0").key


def test_request_only_settings_and_a_loopback_port_are_not_identity():
    a = mi.identity(CHAT, "model=m,base_url=http://127.0.0.1:41113/v1/chat/completions,num_concurrent=1,"
                          "max_retries=3,timeout=30,tokenized_requests=False")
    b = mi.identity(CHAT, {"model": "m", "base_url": "http://localhost:8000/v1/chat/completions", "num_concurrent": 64})
    assert a.key == b.key
    assert "num_concurrent=1" in a.describe_requests() and "127.0.0.1:41113" in a.describe_requests()
    assert "num_concurrent" not in a.describe() and "http://loopback/v1/chat/completions" in a.describe()
    # a remote server is part of the identity: another host may serve another model
    c = mi.identity(CHAT, "model=m,base_url=http://gpu-a.example:8000/v1/chat/completions")
    d = mi.identity(CHAT, "model=m,base_url=http://gpu-b.example:8000/v1/chat/completions")
    assert c.key != d.key != a.key
    # an argument that changes answers splits, and so does the backend
    assert mi.identity(CHAT, "model=m,temperature=0.7").key != mi.identity(CHAT, "model=m").key
    assert mi.identity("local-completions", "model=m").key != mi.identity(CHAT, "model=m").key


def test_the_checkpoint_is_what_lm_eval_records():
    sha = "0123abcd" * 5
    by_path = mi.identity("hf", "pretrained=org/m,dtype=bfloat16", {"model_revision": "main", "model_sha": ""})
    assert by_path.checkpoint == "org/m" and by_path.key == mi.identity("hf", "pretrained=org/m,dtype=bfloat16").key
    assert mi.identity("hf", "pretrained=org/m,revision=v2").checkpoint == "org/m@v2"
    a = mi.identity("hf", "pretrained=org/m", {"model_revision": "main", "model_sha": sha})
    b = mi.identity("hf", "pretrained=/mirror/org-m,revision=main", {"model_revision": "main", "model_sha": sha})
    assert a.checkpoint == f"sha:{sha}" and a.key == b.key  # one checkpoint under two names
    doc = {"config": {"model": "hf", "model_args": {"pretrained": "org/m"}, "model_sha": sha}, "model_name": "org/m"}
    assert mi.of_results(doc).key == a.key and mi.of_results(doc).name == "org/m"
