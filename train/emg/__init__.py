"""Stages 2 and 3 of MyoSem: the activation-aware EMG encoder and its alignment to the stage-1 text space.

``model`` holds the network and its declarative config, ``losses`` the objectives, ``stages`` the training
loops (checkpoint/resume, DDP) and ``export`` the ONNX export and the model-directory writer that the
runtime (:mod:`myosem_rt.model`) reads.
"""
