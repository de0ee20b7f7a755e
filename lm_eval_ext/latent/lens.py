"""The logit lens over a Hugging Face causal LM, batched, keeping only the last position.

At each layer ℓ = 0 (the embeddings, as the first decoder layer receives them: Gemma's scaling
included) .. L (the last decoder layer's output) the residual stream at the last prompt position
goes through the model's final norm and unembedding (and Gemma 2's final logit soft-capping,
Cohere's logit scale), then a softmax. At ℓ = L that is the model's own next-token distribution;
every batch checks that it is (`LogitLens.run`), so a model with another transformation after the
norm fails loudly instead of giving wrong numbers.

Forward hooks on the decoder layers copy ``hidden[:, -1, :]`` of each layer (a copy, not a view:
a view would keep the whole layer output alive) and nothing else; the model is asked for the
logits of the last position only (``logits_to_keep=1``). Prompts are left-padded, with position
ids counted from the first real token, so a padded prompt sees exactly what it would alone.

The pure parts, `prefix_mass` and `entropy_bits`, take probabilities and log-probabilities.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch

LAYER_PATHS = ("layers", "h", "blocks", "decoder.layers", "transformer.h")
NORM_PATHS = ("norm", "ln_f", "final_layernorm", "final_layer_norm", "norm_f", "decoder.final_layer_norm",
              "decoder.norm", "transformer.ln_f")


class LensError(ValueError):
    """A model the logit lens cannot read (no final norm, no decoder layers, no unembedding), or
    one whose last layer through the lens is not its own output."""


def _get(module, path: str):
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def prefix_mass(probs: torch.Tensor, ids: list[list[int]]) -> torch.Tensor:
    """(B,) the summed probability of each row's token ids (`probs`: (B, V))."""
    width = max([len(x) for x in ids] + [1])
    vocab = probs.shape[-1]
    index = torch.full((len(ids), width), vocab, dtype=torch.long, device=probs.device)
    for row, token_ids in enumerate(ids):
        if token_ids:
            index[row, : len(token_ids)] = torch.as_tensor(token_ids, dtype=torch.long)
    padded = torch.cat([probs, probs.new_zeros(probs.shape[0], 1)], dim=-1)  # column V: zero mass
    return padded.gather(1, index).sum(-1)


def entropy_bits(logprobs: torch.Tensor) -> torch.Tensor:
    """(B,) the entropy in bits of each row's distribution (`logprobs`: (B, V), natural log)."""
    return -(logprobs.exp() * logprobs).nan_to_num(0.0).sum(-1) / math.log(2)


@dataclass
class LayerValues:
    p_target: torch.Tensor  # (B, L+1)
    p_english: torch.Tensor
    entropy: torch.Tensor
    check: float  # max |p_lens - p_model| at the last layer
    kept_bytes: int = 0  # the storage the hooks kept: (L+1) x B x d values, never a whole layer output


class LogitLens:
    def __init__(self, model):
        self.model = model
        base = getattr(model, "base_model", None) or model
        self.layers = next((m for m in (_get(base, p) for p in LAYER_PATHS) if isinstance(m, torch.nn.ModuleList)),
                           None)
        name = type(model).__name__
        if not self.layers:
            raise LensError(f"{name}: no decoder layers found (looked for base_model."
                            f"{', base_model.'.join(LAYER_PATHS)})")
        self.norm = next((m for m in (_get(base, p) for p in NORM_PATHS) if isinstance(m, torch.nn.Module)), None)
        if self.norm is None:
            raise LensError(
                f"{name}: no final norm the logit lens can reach (looked for base_model."
                f"{', base_model.'.join(NORM_PATHS)}; a post-LN model such as OPT-350m has none): decoding an "
                "intermediate layer without the norm the last layer gets would not be the logit lens")
        self.head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        if self.head is None:
            raise LensError(f"{name}: no output embeddings (unembedding) to decode layers with")
        config = getattr(model, "config", None)
        self.softcap = getattr(config, "final_logit_softcapping", None)
        scale = getattr(model, "logit_scale", None)
        self.logit_scale = float(scale) if isinstance(scale, (int, float)) else None
        self.keep_last = "logits_to_keep" in inspect.signature(model.forward).parameters

    @property
    def points(self) -> int:
        """Layers read: the embeddings and every decoder layer."""
        return len(self.layers) + 1

    def describe(self) -> str:
        base = getattr(self.model, "base_model", None) or self.model
        names = {id(m): n for n, m in base.named_modules()}
        extra = (f"+softcap {self.softcap}" if self.softcap else "") + \
                (f"+scale {self.logit_scale}" if self.logit_scale else "")
        return f"{names.get(id(self.norm), type(self.norm).__name__)}({type(self.norm).__name__})+unembed{extra}"

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, V) float32 logits of (B, d) residual-stream vectors through the final norm and unembedding."""
        out = self.head(self.norm(hidden.unsqueeze(1))).squeeze(1)
        if self.logit_scale:
            out = out * self.logit_scale
        out = out.float()
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    @torch.inference_mode()
    def run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, target_ids: list[list[int]],
            english_ids: list[list[int]]) -> LayerValues:
        """One left-padded batch: P(target), P(English) and the entropy at every layer."""
        captured: list[torch.Tensor | None] = [None] * self.points

        device = self.head.weight.device  # a model split over devices: decode where the unembedding is

        def keep(i, hidden):
            captured[i] = hidden[:, -1, :].detach().to(device, copy=True)

        def before_first(module, args, kwargs):
            keep(0, args[0] if args else kwargs["hidden_states"])

        def after(i):
            def hook(module, args, output):
                keep(i, output[0] if isinstance(output, (tuple, list)) else output)
            return hook

        handles = [self.layers[0].register_forward_pre_hook(before_first, with_kwargs=True)]
        handles += [layer.register_forward_hook(after(i + 1)) for i, layer in enumerate(self.layers)]
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        try:
            if self.keep_last:
                own = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                 use_cache=False, logits_to_keep=1).logits[:, -1, :]
            else:
                own = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                 use_cache=False).logits[:, -1, :]
        finally:
            for h in handles:
                h.remove()
        if any(c is None for c in captured):
            raise LensError(f"{type(self.model).__name__}: the forward pass did not run every decoder layer")
        kept_bytes = sum(c.untyped_storage().nbytes() for c in captured)
        p_t, p_e, ent = [], [], []
        probs = None
        for hidden in captured:
            logprobs = torch.log_softmax(self.logits(hidden), dim=-1)
            probs = logprobs.exp()
            p_t.append(prefix_mass(probs, target_ids))
            p_e.append(prefix_mass(probs, english_ids))
            ent.append(entropy_bits(logprobs))
        own_probs = torch.softmax(own.float().to(probs.device), dim=-1)
        check = float((probs - own_probs).abs().max())
        return LayerValues(torch.stack(p_t, 1).cpu(), torch.stack(p_e, 1).cpu(), torch.stack(ent, 1).cpu(), check,
                           kept_bytes)
