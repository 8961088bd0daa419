"""``myosem streams``: the LSL streams visible from this machine, as a table.

The first thing to run when ``myosem monitor`` or the demo cannot find a stream: it shows exactly the name,
type and source_id to put under ``stream:`` in config.yaml (or pass as ``--name/--type/--source-id``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "list the LSL streams visible from this machine (name, type, channels, rate, source_id)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=1.0, metavar="S",
                   help="seconds to listen for streams (default 1; short waits can miss some)")


#: What the shipped liblsl configuration does and does not keep on this machine (README "Privacy and
#: network"; liblsl binds every outlet's data sockets to 0.0.0.0 whatever its configuration says).
EXPOSURE = ("note: discovery is machine-local (lsl.api_config), but liblsl's outlets accept data connections "
            "on all IPv4 interfaces (TCP/UDP 16572+); firewall those ports on a shared network")


def run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from myosem_rt.stream.inlet import list_streams

    infos = list_streams(wait_s=args.wait)
    out = sys.stdout
    if not infos:
        out.write("no LSL stream visible (scope: lsl.api_config; the shipped config is this machine only)\n")
        return 0
    header = ("name", "type", "channels", "rate_hz", "format", "source_id", "host")
    formats = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8", 7: "int64"}
    rows = [(i.name(), i.type(), str(i.channel_count()), f"{i.nominal_srate():g}",
             formats.get(i.channel_format(), str(i.channel_format())), i.source_id() or "-", i.hostname())
            for i in infos]
    widths = [max(len(r[k]) for r in (header, *rows)) for k in range(len(header))]
    for row in (header, *rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(EXPOSURE + "\n")
    return 0
