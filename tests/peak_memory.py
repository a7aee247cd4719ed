"""Peak memory of a piece of code, measured in a fresh child process (ru_maxrss is a high-water
mark, so each measurement needs its own process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_RUNNER = """
import json, resource, sys
{setup}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = "ok"
try:
{code}
except Exception as error:
    outcome = f"{{type(error).__name__}}: {{error}}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_mb": peak / 1024, "growth_mb": (peak - before) / 1024, "outcome": outcome}}))
"""


def measure(code: str, setup: str = "") -> dict:
    """Run `setup` (imports), then `code`; return the peak RSS in MB, how far `code` raised it, and
    `"ok"` or the exception it ended in."""
    script = _RUNNER.format(
        setup=textwrap.dedent(setup), code=textwrap.indent(textwrap.dedent(code), "    ")
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
