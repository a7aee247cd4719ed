"""Run `training/pretrain.py` in this process with one fault injected (a test helper).

    python tests/reliability/faulty_pretrain.py FAULT N -- PRETRAIN ARGUMENTS

FAULT, injected at the Nth call of what it names:
- `slow-checkpoint`: the checkpoint write stops half-way (half the bytes written to the
  temporary file), touches $FAULT_MARKER, sleeps $FAULT_SLEEP_S (default 600) and then finishes:
  a test kills the process in that window;
- `full-disk`: the checkpoint write fails half-way with ENOSPC, as a full disk does;
- `nan-loss`: the training forward returns a NaN loss;
- `slow-evaluation`: the kNN evaluation touches $FAULT_MARKER and sleeps before evaluating.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import runpy
import sys
import time
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "pretrain.py"
FAULTS = ("slow-checkpoint", "full-disk", "nan-loss", "slow-evaluation")


def _at_call(n: int, original, faulty):
    """`original`, except that its nth call runs `faulty(original, *args)` instead."""
    calls = itertools.count(1)

    def wrapper(*args, **kwargs):
        if next(calls) == n:
            return faulty(original, *args, **kwargs)
        return original(*args, **kwargs)

    return wrapper


def _pause() -> None:
    Path(os.environ["FAULT_MARKER"]).touch()
    time.sleep(float(os.environ.get("FAULT_SLEEP_S", "600")))


def _half_written_save(save, state, handle, *args, **kwargs):
    buffer = io.BytesIO()
    save(state, buffer, *args, **kwargs)
    data = buffer.getvalue()
    handle.write(data[: len(data) // 2])
    handle.flush()
    if fault == "full-disk":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _pause()
    handle.write(data[len(data) // 2 :])


def _nan_loss(forward, module, *args, **kwargs):
    output = forward(module, *args, **kwargs)
    output.loss = output.loss * float("nan")
    return output


def _slow_evaluation(measure, monitor, *args, **kwargs):
    _pause()
    return measure(monitor, *args, **kwargs)


if __name__ == "__main__":
    fault, n, separator, *arguments = sys.argv[1:]
    assert fault in FAULTS and separator == "--", __doc__
    n = int(n)
    if fault in ("slow-checkpoint", "full-disk"):
        torch.save = _at_call(n, torch.save, _half_written_save)
    elif fault == "nan-loss":
        from mocoim_hub.pretraining.moco import MocoIm

        MocoIm.forward = _at_call(n, MocoIm.forward, _nan_loss)
    else:
        from mocoim_hub.pretraining.monitor import KnnMonitor

        KnnMonitor.measure = _at_call(n, KnnMonitor.measure, _slow_evaluation)
    sys.argv = [str(SCRIPT), *arguments]
    runpy.run_path(str(SCRIPT), run_name="__main__")
