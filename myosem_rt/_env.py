"""Process environment that must be in place before liblsl or onnxruntime load.

liblsl reads its configuration once, when the shared library is first used, from the file named by
``LSLAPICFG``; onnxruntime sends telemetry unless ``ORT_DISABLE_TELEMETRY`` is set before import. Both are
set here, at ``import myosem_rt`` time, so that no code path can import pylsl or onnxruntime first.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The shipped liblsl configuration: machine-local resolution, loopback only, no IPv6.
SHIPPED_LSL_CONFIG = Path(__file__).with_name("lsl_api.cfg")


def configure_environment(lsl_api_config: str | os.PathLike[str] | None = None) -> Path:
    """Point liblsl at a configuration file and switch off onnxruntime telemetry.

    ``lsl_api_config`` replaces the shipped machine-local file (config.yaml ``lsl.api_config``). An
    ``LSLAPICFG`` already present in the environment is respected when no file is given, so a lab can
    widen the scope without editing the project. Returns the file liblsl will read.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    if lsl_api_config is not None:
        path = Path(lsl_api_config).expanduser()
    elif os.environ.get("LSLAPICFG"):
        path = Path(os.environ["LSLAPICFG"])
    else:
        path = SHIPPED_LSL_CONFIG
    if not path.is_file():
        from myosem_rt.errors import ConfigError

        raise ConfigError(f"{path}: LSL configuration file not found (lsl.api_config / LSLAPICFG)")
    if os.environ.get("LSLAPICFG") != str(path) and _liblsl_loaded():
        log.warning("liblsl is already loaded; LSLAPICFG=%s only applies to new processes", path)
    os.environ["LSLAPICFG"] = str(path)
    return path


def _liblsl_loaded() -> bool:
    import sys

    return "pylsl" in sys.modules


def onnxruntime() -> Any:
    """onnxruntime, imported with its telemetry off: the environment switch covers a first import, and
    onnxruntime's own ``disable_telemetry_events()`` covers a host program that imported it before
    ``myosem_rt`` (then the variable came too late). Every runtime session is created through this."""
    import onnxruntime as ort

    disable = getattr(ort, "disable_telemetry_events", None)
    if disable is not None:
        disable()
    return ort
