"""What a run keeps for the whole process, above the pure metrics and below the families.

- `neural`: one COMET/BLEURT scorer per metric and setting (in this process or in a side
  environment), the lm-eval aggregations ``comet`` / ``bleurt``, their run-time signatures;
- `neural_worker`: the side-environment worker, both ends (a subprocess speaking JSON lines);
- `score_cache`: segment scores on disk (SQLite), so a rerun scores only what is new.
"""
