"""`mocoim-reproduce` run from a source checkout; `--help` explains it (mocoim_hub/commands/reproduce.py)."""

from mocoim_hub.commands.console import reproduce

if __name__ == "__main__":
    reproduce()
