"""lm-eval's CLI with its hf model sharded over CPU processes (data parallel).

    torchrun --standalone --nproc_per_node 2 tests/support/dp_launch.py --model hf-cpu-dp --model_args ... --tasks ...
    torchrun --standalone --nproc_per_node 2 tests/support/dp_launch.py lm-eval-ext self-translate --model hf-cpu-dp ...

lm-eval's `hf` model joins a data-parallel run only when torch sees more than
one GPU (`gpus > 1` in HFLM.__init__); under torchrun on CPU every process then
evaluates everything as rank 0. `hf-cpu-dp` is that same model class, given
the rank and world size of the process group that accelerate has already set
up (gloo on CPU); everything else (request sharding by rank, padding, the
gather of per-sample metrics to rank 0, aggregation, saving) is lm-eval's own.
"""

from __future__ import annotations

from lm_eval.__main__ import cli_evaluate
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM


@register_model("hf-cpu-dp")
class CPUDataParallelHFLM(HFLM):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        accelerator = getattr(self, "accelerator", None)  # set by HFLM when accelerate sees > 1 process
        if accelerator is not None and accelerator.num_processes > 1:
            self._rank = accelerator.process_index
            self._world_size = accelerator.num_processes


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["lm-eval-ext"]:  # our command, with the same model class and lm-eval's log
        from lm_eval.utils import setup_logging

        from lm_eval_ext.cli import main

        setup_logging()
        sys.exit(main(sys.argv[2:]))
    cli_evaluate()
