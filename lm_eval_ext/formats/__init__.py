"""The files lm-eval and lm-eval-ext write, each format in one module (ground floor:
nothing here imports the families, the reports or lm-eval).

- `run_folder`: an lm-eval ``--output_path`` folder: results files, samples logs, their
  names and shapes, per-item scores, and `Problem` (what could not be used);
- `judge_file`: the files ``lm-eval-ext judge`` writes beside them (versioned);
- `latent_language`: the file ``lm-eval-ext latent-language`` writes (versioned).
"""
