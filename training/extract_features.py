"""`mocoim-extract` run from a source checkout; `--help` explains it (mocoim_hub/commands/extract.py)."""

from mocoim_hub.commands.console import extract

if __name__ == "__main__":
    extract()
