"""Stage 1 of MyoSem training: the text space (MiniLM + trainable top, multi-view contrastive loss, export).

``python -m train.text train`` trains and writes ``<out>/text`` for :mod:`myosem_rt.text_encoder`;
``python -m train.text report`` measures the text space before and after stage 1.
"""
