"""Offline training of MyoSem models (torch): text space, EMG encoder, alignment, evaluation, export.

Needs the ``train`` extra (``pip install -e '.[train]'``). The runtime (:mod:`myosem_rt`) never imports it.
"""
