"""LSL test helpers: unique stream names and a plain pylsl consumer in another process.

The consumer is :func:`devices.bench.receive` run as ``python -m devices.bench receive``: a separate process
with its own liblsl, so a test sees exactly what any other program on the machine would see.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from devices.bench import receiver_command
from devices.outlet import PacedSource
from myosem_rt.cli import main


def unique_name(prefix: str) -> str:
    """A stream name no other test (or engineer) on this machine uses."""
    return f"test-{prefix}-{uuid.uuid4().hex[:10]}"


def stream_to_receiver(
    source: PacedSource, expect: int, tmp_path: Path, *, timeout_s: float = 30.0
) -> dict[str, np.ndarray]:
    """Stream ``source`` to a receiver process until it has ``expect`` samples; returns what it recorded.

    ``source`` must be created with ``wait_for_consumer`` > 0 so that no sample is pushed before the
    receiver is connected. The outlets are kept open (``linger_s``) until the receiver has closed its inlets.
    """
    out = tmp_path / f"{source.spec.name}.npz"
    source.linger_s = timeout_s  # stop() below ends the linger as soon as the receiver is done
    source.start()
    try:
        assert source.ready.wait(10.0), "outlets were not created"
        cmd = receiver_command(source.spec.name, out, expect=expect, timeout_s=timeout_s, idle_s=2.0)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 30.0)
    finally:
        source.stop(timeout=10.0)
    assert proc.returncode == 0, f"receiver failed ({proc.returncode}): {proc.stderr}"
    with np.load(out) as rx:
        return {key: rx[key] for key in rx.files}


def run_cli(argv: Sequence[str]) -> int:
    """``myosem ARGV`` in-process (conftest's autouse fixture restores logging afterwards)."""
    return main(list(argv))
