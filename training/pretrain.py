"""`mocoim-pretrain` run from a source checkout; `--help` explains it (mocoim_hub/commands/pretrain.py)."""

from mocoim_hub.commands.console import pretrain

if __name__ == "__main__":
    pretrain()
