"""Peak memory of a piece of code, measured in a fresh child process: the kernel's high-water mark
of resident memory (VmHWM) is reset after the imports, then read after the code."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_RUNNER = """
import gc, json, time
{setup}
def kib(field):
    status = open("/proc/self/status").read().split(field + ":")[1]
    return int(status.split()[0])
gc.collect()
open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM to the current resident size
before = kib("VmRSS")
outcome = "ok"
start = time.perf_counter()
try:
{code}
except Exception as error:
    outcome = f"{{type(error).__name__}}: {{error}}"
seconds = time.perf_counter() - start
peak = kib("VmHWM")
print(json.dumps({{"peak_mb": peak / 1024, "growth_mb": (peak - before) / 1024, "outcome": outcome,
                  "seconds": seconds}}))
"""


def measure(code: str, setup: str = "") -> dict:
    """Run `setup` (imports), then `code`; return the peak RSS in MB, how far `code` raised it,
    `"ok"` or the exception it ended in, and the seconds `code` took."""
    script = _RUNNER.format(
        setup=textwrap.dedent(setup), code=textwrap.indent(textwrap.dedent(code), "    ")
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
