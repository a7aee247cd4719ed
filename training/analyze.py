"""`mocoim-analyze` run from a source checkout; `--help` explains it (mocoim_hub/commands/analyze.py)."""

from mocoim_hub.commands.console import analyze

if __name__ == "__main__":
    analyze()
