"""Scorers and statistics: pure functions of texts and numbers, each with its
reproducibility signature where it scores, testable without lm-eval.

- `numbers`: locale-aware number extraction (MGSM); `reasoning`: the one
  ``<think>`` stripper; `qa`: SQuAD v1.1 and MLQA scorers; `mt`: BLEU, spBLEU,
  chrF++ (sacreBLEU); `neural`: COMET and BLEURT (also run by path in a side
  environment: it imports nothing of lm_eval_ext); `langid`: output-language
  identification; `consistency`: cross-lingual agreement and consistency;
  `bootstrap`: confidence intervals.
"""
