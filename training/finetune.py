"""`mocoim-finetune` run from a source checkout; `--help` explains it (mocoim_hub/commands/finetune.py)."""

from mocoim_hub.commands.console import finetune

if __name__ == "__main__":
    finetune()
