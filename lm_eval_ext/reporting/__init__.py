"""Reading finished lm-eval run folders: what a model team reads.

- `runs`: the one run-folder reader (results, samples logs, judge files; every
  unusable piece a `runs.Problem`) and the one reader of per-item scores;
- `tables`: rows by language and tier, and the family means, computed once;
- `document`: one model of a report section, rendered to Markdown and HTML;
- `report`, `leaderboard`, `compare`, `rescore`, `posthoc_consistency`: the
  commands on top (``lm-eval-ext report`` ...); `svg`: the report's charts.
"""
