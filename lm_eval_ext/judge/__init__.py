"""LLM-judge scoring over lm-eval sample logs (``lm-eval-ext judge``).

- `protocols`: which judging protocol a task gets, the versioned prompt
  templates (``reports/judge/<protocol>.v<N>.txt``) and their strict parsers;
- `client`: the disk cache and the HTTP judge (any OpenAI-compatible server) with
  bounded concurrency, total deadlines, size limits, retries and a request budget;
  `hf_judge`: a local transformers model as the judge, batched;
- `pipeline`: judges every logged sample of a run folder; `pairwise`: two runs item by
  item; `command`: the ``lm-eval-ext judge`` command. The files they write:
  `lm_eval_ext.formats.judge_file`.

Design notes and the file formats: reports/judge/README.md.
"""
