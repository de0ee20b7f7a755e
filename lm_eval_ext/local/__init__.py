"""Models and environments on this machine: the embedded demo model (`embedded`) and
``lm-eval-ext demo``, a small OpenAI-compatible server over a transformers model
(`serve`), and the side environment for COMET/BLEURT (`neural_env`)."""
