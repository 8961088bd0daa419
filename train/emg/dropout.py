"""Dropout with a cheap random mask on the CPU: the same regularisation, a fifth of the training step back.

Why: profiling a stage-2 step of ``myosem-small`` on the 2-core CPU (``myosem bench train``) put 26 % of
the step in ``aten::bernoulli_``, the per-element random draw behind ``nn.Dropout`` -- more than all matrix
products together -- because torch's CPU generator produces one 32-bit draw per element (about 10 ns).
:class:`FastDropout` draws 64-bit words from the same seeded torch generator and reads each as four 16-bit
lanes, so a mask costs a quarter of the draws; an element is kept when its lane is at or above
``round(p * 65536)`` (so p is exact to 1/65536), and kept elements are scaled by ``1 / (1 - p)``, exactly as
``nn.Dropout`` does. Off the CPU (CUDA's dropout kernel is already fast) and in eval mode it is
``F.dropout`` itself, so exported graphs and GPU runs are unchanged.

:func:`use_fast_dropout` swaps it in for every ``nn.Dropout`` of a module (the transformer layers' residual
and feed-forward dropouts, the classification head's); the attention-weight dropout inside
``nn.MultiheadAttention`` is a float, not a module, and keeps torch's own kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_LANES = 4  #: 16-bit lanes per 64-bit random word
_LEVELS = 1 << 16


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training mask comes from 16-bit lanes of 64-bit random words."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.p >= 1.0:
            return F.dropout(x, self.p, self.training, self.inplace)
        n = x.numel()
        words = torch.empty((n + _LANES - 1) // _LANES, dtype=torch.int64).random_(-(1 << 63), None)
        lanes = words.view(torch.int16)[:n].view(x.shape)  # uniform over [-32768, 32767]
        keep = lanes >= (round(self.p * _LEVELS) - _LEVELS // 2)
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))  # mul: the backward is one product too


def use_fast_dropout(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Dropout`` inside ``module`` by a :class:`FastDropout` of the same p (in place)."""
    for name, child in list(module.named_children()):
        if type(child) is nn.Dropout:
            setattr(module, name, FastDropout(child.p, child.inplace))
        else:
            use_fast_dropout(child)
    return module
