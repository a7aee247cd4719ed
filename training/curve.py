"""`mocoim-curve` run from a source checkout; `--help` explains it (mocoim_hub/commands/curve.py)."""

from mocoim_hub.commands.console import curve

if __name__ == "__main__":
    curve()
