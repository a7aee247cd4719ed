r"""Pretrain a MoCo-IM encoder: MoCo v2 plus an intermediate-layer loss (Kaku et al., NeurIPS 2021).

    mocoim-pretrain --recipe demo --output-dir runs/demo
    mocoim-pretrain --recipe paper-nih --data-path /data/NIH --output-dir runs/nih
    mocoim-pretrain --recipe demo --output-dir runs/demo --resume   # after a crash
    torchrun --nproc_per_node 8 -m mocoim_hub.commands.pretrain --recipe mocov2-nih \
        --data-path /data/NIH --output-dir runs/nih-ddp      # or: accelerate launch --multi_gpu

Any recipe field can be overridden (`--lr 0.03 --report-to tensorboard,wandb`); `batch_size` is
the global batch. The run (`mocoim_hub.pretraining.pretrain`) writes its checkpoint, metrics,
recipe and the encoder with its model card to OUTPUT_DIR/model; `--push-to-hub --hub-model-id
org/name` uploads that folder (a failed upload keeps it and prints the command to retry).
SIGTERM (a scheduler's preemption) checkpoints the current step and exits with 143.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from ..pretraining import Pretrainer, PretrainingError, PretrainingInterrupted, PretrainRecipe
from ..pretraining.recipe import shipped_recipes
from .arguments import (
    add_hub_arguments,
    add_recipe_arguments,
    check_hub_arguments,
    data_flags,
    publish,
    recipe_overrides,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--recipe",
                        help=f"a shipped recipe ({', '.join(shipped_recipes())}) or a JSON path "
                        "(default: demo; with --resume, the run's own recipe.json)")  # fmt: skip
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="replace files in OUTPUT_DIR that this program did not write")  # fmt: skip
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_hub_arguments(parser)
    add_recipe_arguments(parser)
    args = parser.parse_args(argv)
    check_hub_arguments(parser, args)
    try:
        recipe = PretrainRecipe.resolve(recipe_of(args), **recipe_overrides(args))
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))

    try:
        trainer = Pretrainer(recipe, args.output_dir, resume=args.resume, device=args.device,
                             force=args.force)  # fmt: skip
        with stop_on(signal.SIGTERM, trainer):
            trainer.fit()
            model_dir = trainer.save_model(repo_id=args.hub_model_id)
    except PretrainingInterrupted as stop:
        print(f"Stopped by SIGTERM after step {stop.step}; the checkpoint {stop.checkpoint} holds "
              "it. Continue with --resume.", file=sys.stderr)  # fmt: skip
        return 128 + signal.SIGTERM
    except (PretrainingError, FileNotFoundError, ValueError, OSError) as error:
        sys.exit(str(error))
    if trainer.world.is_main:
        print(f"saved the encoder and its model card to {model_dir} (checkpoint, metrics.jsonl "
              f"and loss_curves.png in {args.output_dir})")  # fmt: skip
        publish(model_dir, args)
        data = data_flags(recipe.dataset, recipe.data_path, recipe.table_options)
        print(f"Next: mocoim-finetune --models {model_dir} random{data} --output-dir "
              f"{args.output_dir / 'few-label'}   # few-label evaluation against random init")  # fmt: skip
    return 0


def recipe_of(args: argparse.Namespace) -> str | Path:
    """The recipe named, else the run's own when resuming it, else `demo`."""
    own = args.output_dir / "recipe.json"
    if args.recipe is None and args.resume and own.is_file():
        return own
    return args.recipe or "demo"


@contextlib.contextmanager
def stop_on(signum: int, trainer: Pretrainer):
    """Within the block, `signum` asks the trainer to stop after its current step."""
    previous = signal.signal(signum, lambda *_: trainer.request_stop())
    try:
        yield
    finally:
        signal.signal(signum, previous)


if __name__ == "__main__":
    sys.exit(main())
