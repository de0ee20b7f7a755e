"""Which language does a model think in: the latent-language analysis (logit lens) of
Wendler et al. 2024 ("Do Llamas Work in English?"), implemented from the method's
definition for any Hugging Face causal LM.

- `concepts`: the concepts, from CLDR through the installed ``babel`` (names of territories,
  languages, weekdays, months in every language, with their English names);
- `tokens`: each token's bytes, the prefix-token set of a word, the per-tokenizer filter;
- `prompts`: the translation, repetition and cloze prompts;
- `lens`: the model's decoder layers, final norm and unembedding; the batched forward pass that
  keeps only the last position of each layer; probability mass and entropy per layer;
- `summary`: per-layer means over concepts with bootstrap CIs, the English-latent share;
- `command`: ``lm-eval-ext latent-language``.

The output file's format is `lm_eval_ext.formats.latent_language`. Same layer as ``local/``
(it loads models); `tokens`, `prompts` and `summary` are pure and need no model.
"""

from __future__ import annotations

METHOD = "logit-lens-latent-language"
METHOD_VERSION = 1  # bump when a number the command writes would change for the same inputs

