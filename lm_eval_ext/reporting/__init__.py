"""Reading finished lm-eval run folders: what a model team reads.

- `runs`: the run model (runs, task infos, cells) built from the files that
  `lm_eval_ext.formats` reads; every unusable piece a `Problem`;
- `rows`: which table row a task's numbers belong to (languages, labels, tiers, order);
- `tables`: rows by language and tier, and the family means with their CIs (clustered by
  item for parallel families), computed once;
- `comparability`: whether a task's numbers in two runs were made the same way;
  `side_by_side`: what the report shows of it;
- `document`: one model of a report section, rendered to Markdown and HTML;
- `report`, `leaderboard`, `compare`, `rescore`, `posthoc_consistency`: the
  commands on top (``lm-eval-ext report`` ...); `svg`: the report's charts;
  `translate_test_section`: the report's Translate-test section.
"""
