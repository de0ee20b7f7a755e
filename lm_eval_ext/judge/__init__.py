"""LLM-judge scoring over lm-eval sample logs (``lm-eval-ext judge``).

- `protocols`: which judging protocol a task gets, the versioned prompt
  templates (``reports/judge/<protocol>.v<N>.txt``) and their strict parsers;
- `client`: the disk cache and the judge backends (any OpenAI-compatible
  server, or a local transformers model), with bounded concurrency, timeouts,
  retries and a request budget;
- `pipeline`: reads a run folder, judges every logged sample, writes
  ``judge_results_<date>.json`` and ``judge_samples_<task>_<date>.jsonl``
  beside lm-eval's files; pairwise comparison of two runs.

Design notes and the file formats: reports/judge/README.md.
"""
