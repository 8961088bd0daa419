"""The deep baselines: small torch networks on the raw filtered window (W, C), each with an ``embed`` (the
penultimate layer: the segment embedding) and a linear classification ``head``.

They are sized like the MyoSem encoder (tens to hundreds of thousands of parameters) and read the same
input: the filtered window, z-scored per channel with statistics of the training windows
(:class:`ChannelNorm`, fitted by the caller), no descriptors. The first convolution is strided so that the
networks work on about :data:`TARGET_STEPS` time steps whatever the rate (stride 5 for a 200-sample 3DC
window at 1 kHz, 1 for a 40-sample Myo window at 200 Hz): the same cost per window on both devices, and
the MyoSem encoder also sees a 1 kHz window as 8 patch tokens, not 200 samples. Pooling over time is global.

- :class:`TCN` -- temporal convolutional network (Bai, Kolter & Koltun 2018): residual blocks of two
  dilated causal 1-D convolutions (dilations 1, 2, 4, kernel 5), weight-normalised, then mean over time.
- :class:`CNNBiLSTM` -- a 1-D convolutional front end (two convolutions, max-pool by 2) feeding a
  bidirectional LSTM, mean over time (the CNN-LSTM family of sEMG gesture models).
- :class:`AtzoriCNN` -- after Atzori et al., Front. Neurorobot. 10:9 (2016): the window as a 1 x W x C
  image, convolution blocks with average pooling along time, a final 1 x 1 style block, global pooling.
  The original read 150 ms of rectified NinaPro signal through 5 blocks; here the kernel sizes are scaled
  to the window and the channel axis is kept whole (armband channels have no 2-D grid).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class ChannelNorm(nn.Module):
    """Per-channel z-score of the (N, W, C) window with buffers fitted on training windows."""

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_channels))
        self.register_buffer("std", torch.ones(n_channels))

    def fit(self, x: np.ndarray, eps: float = 1e-6) -> None:
        flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
        self.mean.copy_(torch.as_tensor(flat.mean(0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(flat.std(0) + eps, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


#: Time steps the networks work on after their strided first convolution.
TARGET_STEPS = 40


class BaselineNet(nn.Module):
    """Common frame: norm -> ``features`` (B, W, C) -> (B, embed_dim) -> ``head`` (B, K)."""

    embed_dim: int

    def __init__(self, n_channels: int, n_classes: int, window: int, embed_dim: int) -> None:
        super().__init__()
        self.norm = ChannelNorm(n_channels)
        self.embed_dim = embed_dim
        self.stride = max(1, window // TARGET_STEPS)  #: of the first convolution
        #: kernel and padding of the first convolution: 2 stride + 3 samples, centred (5 when unstrided)
        self.front_kernel, self.front_pad = 2 * self.stride + 3, self.stride + 1
        self.head = nn.Linear(embed_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The segment embedding (penultimate layer) of raw windows (B, W, C)."""
        return self.features(self.norm(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class _TemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation  # left padding only: causal
        self.conv1 = weight_norm(nn.Conv1d(c_in, c_out, kernel, dilation=dilation))
        self.conv2 = weight_norm(nn.Conv1d(c_out, c_out, kernel, dilation=dilation))
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        h = self.drop(torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        h = self.drop(torch.relu(self.conv2(nn.functional.pad(h, (self.pad, 0)))))
        return torch.relu(h + self.skip(x))


class TCN(BaselineNet):
    def __init__(self, n_channels: int, n_classes: int, window: int, width: int = 32, kernel: int = 5,
                 dilations: tuple[int, ...] = (1, 2, 4), dropout: float = 0.1) -> None:
        super().__init__(n_channels, n_classes, window, width)
        self.front = nn.Conv1d(n_channels, width, self.front_kernel, self.stride, self.front_pad)
        self.blocks = nn.Sequential(*(_TemporalBlock(width, width, kernel, d, dropout) for d in dilations))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(torch.relu(self.front(x.transpose(1, 2)))).mean(dim=2)


class CNNBiLSTM(BaselineNet):
    def __init__(self, n_channels: int, n_classes: int, window: int, width: int = 64, hidden: int = 32,
                 dropout: float = 0.1) -> None:
        super().__init__(n_channels, n_classes, window, 2 * hidden)
        self.conv = nn.Sequential(
            nn.Conv1d(n_channels, width, self.front_kernel, self.stride, self.front_pad),
            nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.MaxPool1d(2), nn.Dropout(dropout),
        )
        self.lstm = nn.LSTM(width, hidden, batch_first=True, bidirectional=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T/2, width)
        out, _ = self.lstm(h)
        return out.mean(dim=1)


class AtzoriCNN(BaselineNet):
    def __init__(self, n_channels: int, n_classes: int, window: int, width: int = 16,
                 dropout: float = 0.15) -> None:
        super().__init__(n_channels, n_classes, window, 2 * width)
        w2 = 2 * width
        self.blocks = nn.Sequential(  # first: temporal filters per channel
            nn.Conv2d(1, width, (self.front_kernel, 1), (self.stride, 1), (self.front_pad, 0)), nn.ReLU(),
            nn.Conv2d(width, width, (3, 3), padding=(1, 1)), nn.ReLU(), nn.AvgPool2d((3, 1), ceil_mode=True),
            nn.Dropout(dropout),
            nn.Conv2d(width, w2, (5, 3), padding=(2, 1)), nn.ReLU(), nn.AvgPool2d((3, 1), ceil_mode=True),
            nn.Dropout(dropout),
            nn.Conv2d(w2, w2, (3, n_channels)), nn.ReLU(),  # mixes all channels (the original's 9x1 block)
            nn.Conv2d(w2, w2, 1), nn.ReLU(),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x.unsqueeze(1)).mean(dim=(2, 3))


NETS: dict[str, type[BaselineNet]] = {"tcn": TCN, "cnn-bilstm": CNNBiLSTM, "atzori-cnn": AtzoriCNN}
