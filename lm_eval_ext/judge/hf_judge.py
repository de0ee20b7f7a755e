"""`HFJudge`: a local transformers chat model as the judge, greedy, in batches (GPU when present).
It takes the same requests, budget and stats as the HTTP judge (`judge.client`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from lm_eval_ext.judge.client import Budget, BudgetExhausted, Request, Stats


class HFJudge:
    """A local transformers chat model as the judge: greedy decoding in batches."""

    kind = "transformers"

    def __init__(self, path: str, batch_size: int = 8, max_new_tokens: int = 256, device: str | None = None,
                 budget: Budget | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = str(path)
        self.model = Path(self.path).name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tok = AutoTokenizer.from_pretrained(self.path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.lm = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype).to(self.device).eval()
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max_new_tokens
        self.sampling = {"temperature": 0, "max_tokens": max_new_tokens}
        self.budget = budget or Budget(None)
        self.stats = Stats()

    def describe(self) -> dict:
        return {"backend": self.kind, "path": self.path, "model": self.model, "device": self.device,
                "batch_size": self.batch_size}

    def generate(self, batch: list[Request]) -> list[str]:
        import torch

        texts = []
        for req in batch:
            msgs = req.payload_messages()
            if self.tok.chat_template:
                texts.append(self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
            else:
                texts.append("\n\n".join(m["content"] for m in msgs) + "\n\n")
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=not self.tok.chat_template,
                       return_token_type_ids=False).to(self.device)
        with torch.no_grad():
            out = self.lm.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                   pad_token_id=self.tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return [self.tok.decode(row, skip_special_tokens=True) for row in new]

    def run_many(self, requests_: list[Request]) -> Iterator[tuple[Request, str | Exception]]:
        for start in range(0, len(requests_), self.batch_size):
            batch = requests_[start:start + self.batch_size]
            allowed = []
            for req in batch:
                try:
                    self.budget.take()
                    allowed.append(req)
                except BudgetExhausted as err:
                    yield req, err
            if not allowed:
                continue
            self.stats.http_requests += len(allowed)  # "requests" to the local model
            for req, reply in zip(allowed, self.generate(allowed)):
                yield req, reply
