"""Helpers the tests share (imported as ``support.<module>``; tests/ is on sys.path under pytest).

- `env`: the repository, the real benchmark data, offline settings, console commands as a
  user runs them, and the neural (COMET/BLEURT) side environment;
- `loopback`: real OpenAI-compatible servers on loopback with scripted replies, and raw
  hostile servers;
- `tiny_models`: a random-init Llama with a BPE tokenizer trained on real MGSM questions;
  `tiny_mt_models`: tiny real-architecture COMET/BLEURT checkpoints (also a script run by the
  neural interpreter);
- `qa_data`: an MLQA-format folder built from the parallel XQuAD items;
- `judge_runs`: lm-eval-shaped run folders written from real items;
- `hidden`: a subprocess environment in which some installed packages look absent;
  `shadowing`: one in which a look-alike (or a breaking stand-in) shadows a package;
- `fake_side`: fake side interpreters for LM_EVAL_EXT_NEURAL_PYTHON (banners, hangs, slow ones);
- `dp_launch`: lm-eval's CLI with its hf model sharded over CPU processes (torchrun).
"""
