"""MyoSem-RT runtime: live forearm EMG to ranked natural-language descriptions.

Importing this package sets ``LSLAPICFG`` (machine-local LSL) and ``ORT_DISABLE_TELEMETRY`` before pylsl or
onnxruntime can load. It never imports torch: training lives in the separate ``train`` package.
"""

from myosem_rt._env import configure_environment

configure_environment()

__version__ = "0.1.0"
__all__ = ["configure_environment", "__version__"]
