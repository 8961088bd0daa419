"""Training data: the runtime's windowed datasets (:mod:`myosem_rt.windowing`) plus a torch Dataset view.

The windowing itself lives in the runtime package (``myosem eval`` needs it without torch); it is
re-exported here so that training code has one import site and there is one definition.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from myosem_rt.windowing import WindowSet, dataset_spec, load_windows, stratified_subsample

__all__ = ["WindowSet", "load_windows", "dataset_spec", "stratified_subsample", "TorchWindows", "Normaliser"]

#: ``(x, desc) -> (x, desc)`` on numpy arrays of one window (or any leading batch dimensions).
Normaliser = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class TorchWindows(Dataset):
    """Items ``(x (W, C), desc (P, C, 3), label)`` as float32 / int64 tensors, optionally normalised.

    The WindowSet's arrays are shared, not copied; ``normaliser`` is applied per item, so a full dataset
    never exists twice in memory.
    """

    def __init__(self, windows: WindowSet, normaliser: Normaliser | None = None) -> None:
        self.windows = windows
        self.normaliser = normaliser

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, desc = self.windows.x[index], self.windows.desc[index]
        if self.normaliser is not None:
            x, desc = self.normaliser(x, desc)
        return (torch.as_tensor(np.asarray(x, dtype=np.float32)),
                torch.as_tensor(np.asarray(desc, dtype=np.float32)),
                torch.as_tensor(int(self.windows.label[index]), dtype=torch.int64))
