"""``myosem monitor``: is the EMG stream healthy? Rate, samples, gaps and latency, once a second.

It runs the runtime's own consumer (myosem_rt.stream.consumer), so what it reports -- losses, recoveries,
timestamp discontinuities -- is exactly what the runtime sees. Latency is LSL time at the moment a chunk
is pulled minus the clock-corrected timestamp of its newest sample (transport + buffering delay).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

HELP = "print an EMG stream's effective rate, samples, gaps and latency once a second"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="stream name (any of --name/--type/--source-id replaces config 'stream')")
    p.add_argument("--type", help="stream type, e.g. EMG")
    p.add_argument("--source-id", dest="source_id", help="stream source_id")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.stream.consumer import StreamConsumer
    from myosem_rt.stream.inlet import StreamSelector

    selector = StreamSelector.from_config(config["stream"], name=args.name, type=args.type,
                                          source_id=args.source_id)
    out = sys.stdout
    with StreamConsumer(config, selector) as consumer:
        pipe = consumer.pipeline
        out.write(f"monitoring {consumer.description}\n  filters: {pipe.design.description}; windows "
                  f"{pipe.spec.window}/{pipe.spec.hop}/{pipe.spec.patch} samples (window/hop/patch)\n")
        out.write(f"{'time_s':>7} {'rate_hz':>9} {'samples':>10} {'windows':>8} {'gaps':>5} "
                  f"{'gap_samples':>11} {'latency_ms':>10} {'max_ms':>7}  state\n")
        out.flush()
        consumer.poll(timeout_s=0.0)  # what queued while liblsl got its first clock offset (~0.6 s)
        start = last = time.monotonic()
        samples_at_last = pipe.n_samples
        latencies: list[float] = []
        try:
            while args.duration is None or time.monotonic() - start < args.duration:
                arrivals = consumer.inlet.last_arrival
                consumer.poll(timeout_s=0.05)
                if consumer.inlet.last_arrival != arrivals and consumer.inlet.arrival_latency_s is not None:
                    latencies.append(consumer.inlet.arrival_latency_s * 1000.0)
                now = time.monotonic()
                if now - last >= 1.0:
                    rate = (pipe.n_samples - samples_at_last) / (now - last)
                    if latencies:
                        lat = f"{sum(latencies) / len(latencies):10.1f} {max(latencies):7.1f}"
                    else:
                        lat = f"{'-':>10} {'-':>7}"
                    out.write(f"{now - start:7.1f} {rate:9.1f} {pipe.n_samples:10d} {pipe.n_windows:8d} "
                              f"{consumer.n_gaps:5d} {consumer.gap_samples:11d} {lat}  {consumer.state}\n")
                    out.flush()
                    last, samples_at_last, latencies = now, pipe.n_samples, []
        except KeyboardInterrupt:
            pass
    return 0
