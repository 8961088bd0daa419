"""The MyoSem EMG network: activation-aware encoder (stage 2) and semantic-query alignment head (stage 3).

Encoder (paper eqs. 6-9). A window ``x`` (W samples x C channels) is cut into P = W / patch patches:

- raw patch token ``r_t = Linear(patch samples of all channels)`` (patch*C -> d);
- descriptors of the same patch (:func:`myosem_rt.descriptors.patch_descriptors`: rms, energy, var per
  channel) are injected by gated residuals ``h_t = r_t + σ(g_e) φ_e([rms; energy]) + σ(g_v) φ_v(var)``;
  the scalar gates start at ``gate_init`` (σ(-4) ≈ 0.02), so training starts from the raw-token model and
  opens the gates only as far as the descriptors help;
- a learnable positional embedding, then a pre-norm transformer encoder -> contextual tokens;
- a cosine VQ codebook quantises the tokens (straight-through); a reconstruction head maps the quantised
  tokens back to the patch samples; a classification head reads the mean-pooled tokens.

Alignment (eqs. 10-12): ``z_global`` projects the mean-pooled tokens; M learnable semantic queries
cross-attend the tokens and their pooled result is projected to ``z_query``; ``z = normalize((1-α) ẑ_global +
α ẑ_query)`` where ẑ are the unit-norm projections, so α weighs two directions of equal length.

Choices (documented, configurable where it matters):

* classification and alignment read the *continuous* tokens; the quantised tokens only feed the
  reconstruction head. The VQ bottleneck thus shapes the encoder during stage 2 while the exported graph
  needs no codebook (``ModelConfig.heads_on_quantized`` switches to the quantised tokens).
* input normalisation is part of the network (buffers fitted on training windows only, :meth:`InputNorm.fit`):
  x is z-scored per channel; descriptors are z-scored per (channel, descriptor) after ``log1p`` of rms and var
  (amplitude-like, heavy-tailed across subjects and devices; energy is already log-compressed by its
  definition). The ONNX graph therefore takes the raw filtered window and its raw descriptors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from myosem_rt.descriptors import N_DESCRIPTORS
from myosem_rt.errors import ConfigError
from myosem_rt.profile.features import CLASSICAL_SETS
from train.emg.dropout import use_fast_dropout
from train.emg.losses import codebook_perplexity, straight_through, vq_loss

T = TypeVar("T")

#: Descriptors that get ``log1p`` before z-scoring (rms, var); energy (index 1) is already a log.
LOG_DESCRIPTORS = (True, False, True)


def config_from_mapping(cls: type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """Build a config dataclass from a YAML section; unknown keys are a one-line :class:`ConfigError`."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(f"{section}: unknown option(s) {', '.join(unknown)} (known: {known})")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{section}: {exc}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters (the ``model:`` section of a training config)."""

    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    gate_init: float = -4.0  #: initial gate logit: σ(-4) ≈ 0.018
    codebook_size: int = 128
    vq_beta: float = 0.25
    n_queries: int = 4  #: M semantic queries
    alpha: float = 0.5  #: weight of z_query against z_global
    heads_on_quantized: bool = False
    #: False = ablation "without activation-aware descriptors": both gates are held at exactly 0, so the
    #: tokens are raw patch embeddings + positions. The descriptor branch stays in the graph (times 0), so
    #: the exported encoder keeps its ``desc`` input and the runtime feeds every model the same way.
    descriptors: bool = True
    #: Window-level descriptors: a classical feature set of the whole window (``td``, ``td+cov``,
    #: ``td+cov+d``; :mod:`myosem_rt.profile.features`, computed outside the graph like the patch
    #: descriptors) injected into every token by a third gated residual; "" = off (the paper's encoder).
    window_features: str = ""
    #: Session statistics of the window features (:mod:`myosem_rt.session_stats`): each feature
    #: standardised by the running mean / variance of its recording (training) or stream (runtime), the
    #: population's statistics worth this many hops as the prior; 0 = off (one global standardisation).
    window_session_prior: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.window_features not in ("", *CLASSICAL_SETS):
            raise ValueError(f"window_features must be '' or one of {', '.join(CLASSICAL_SETS)}, "
                             f"got {self.window_features!r}")
        if not isinstance(self.window_session_prior, (int, float)) or self.window_session_prior < 0:
            raise ValueError(f"window_session_prior must be a number of hops >= 0 (0 = off), "
                             f"got {self.window_session_prior!r}")
        sizes = (self.d_model, self.n_layers, self.n_heads, self.ff_mult, self.codebook_size, self.n_queries)
        if min(sizes) < 1:
            raise ValueError("sizes must be >= 1")


@dataclass(frozen=True)
class Dims:
    """What the data fixes: channels, window and patch in samples, classes, text embedding size."""

    n_channels: int
    window: int
    patch: int
    n_classes: int
    text_dim: int
    n_features: int = 0  #: size of the window-level feature vector (0: none)

    @property
    def n_patches(self) -> int:
        return self.window // self.patch


class InputNorm(nn.Module):
    """Per-channel z-score of x, per-(channel, descriptor) z-score of (log-)descriptors; fitted buffers."""

    def __init__(self, n_channels: int, n_features: int = 0) -> None:
        super().__init__()
        self.register_buffer("f_mean", torch.zeros(n_features))
        self.register_buffer("f_std", torch.ones(n_features))
        self.register_buffer("x_mean", torch.zeros(n_channels))
        self.register_buffer("x_std", torch.ones(n_channels))
        self.register_buffer("d_mean", torch.zeros(n_channels, N_DESCRIPTORS))
        self.register_buffer("d_std", torch.ones(n_channels, N_DESCRIPTORS))
        self.register_buffer("log_mask", torch.tensor(LOG_DESCRIPTORS, dtype=torch.float32))

    @staticmethod
    def transform_descriptors(desc: np.ndarray) -> np.ndarray:
        """The fixed (pre-z-score) descriptor transform in numpy, identical to the one in :meth:`forward`."""
        d = np.asarray(desc, dtype=np.float64)
        return np.where(np.asarray(LOG_DESCRIPTORS), np.log1p(np.maximum(d, 0.0)), d)

    def fit(self, x: np.ndarray, desc: np.ndarray, feat: np.ndarray | None = None, eps: float = 1e-6) -> None:
        """Statistics of TRAINING windows ``x`` (N, W, C), ``desc`` (N, P, C, 3) and their window features
        ``feat`` (N, F) when the encoder has them, in float64."""
        xs = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
        ds = self.transform_descriptors(desc).reshape(-1, desc.shape[-2], desc.shape[-1])
        stats = {"x_mean": xs.mean(0), "x_std": xs.std(0) + eps,
                 "d_mean": ds.mean(0), "d_std": ds.std(0) + eps}
        if self.f_mean.numel():
            fs = np.asarray(feat, dtype=np.float64)
            stats.update(f_mean=fs.mean(0), f_std=fs.std(0) + eps)
        for name, value in stats.items():
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))

    def stats(self) -> dict[str, list]:
        """The fitted statistics as nested lists (for the manifest)."""
        names = ("x_mean", "x_std", "d_mean", "d_std") + (("f_mean", "f_std") if self.f_mean.numel() else ())
        return {k: getattr(self, k).tolist() for k in names}

    def forward(self, x: torch.Tensor, desc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xn = (x - self.x_mean) / self.x_std
        d = desc + self.log_mask * (torch.log1p(desc.clamp(min=0.0)) - desc)
        return xn, (d - self.d_mean) / self.d_std


def _mlp(n_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, d), nn.GELU(), nn.Linear(d, d))


class ActivationAwareEncoder(nn.Module):
    """Raw patch tokens + gated descriptor residuals + positions -> pre-norm transformer tokens (B, P, d)."""

    def __init__(self, cfg: ModelConfig, dims: Dims) -> None:
        super().__init__()
        c, d = dims.n_channels, cfg.d_model
        self.n_patches, self.patch, self.n_channels = dims.n_patches, dims.patch, c
        self.use_descriptors = bool(cfg.descriptors)
        self.norm = InputNorm(c, dims.n_features)
        self.patch_embed = nn.Linear(dims.patch * c, d)
        self.phi_e = _mlp(2 * c, d)  # [rms; energy] of the C channels
        self.phi_v = _mlp(c, d)  # var of the C channels
        self.gate_e = nn.Parameter(torch.tensor(float(cfg.gate_init)))
        self.gate_v = nn.Parameter(torch.tensor(float(cfg.gate_init)))
        self.pos = nn.Parameter(torch.randn(1, dims.n_patches, d) * 0.02)
        self.n_features = dims.n_features
        if self.n_features:  # window-level descriptors (ModelConfig.window_features)
            self.phi_w = _mlp(self.n_features, d)
            self.gate_w = nn.Parameter(torch.tensor(float(cfg.gate_init)))
        layer = nn.TransformerEncoderLayer(
            d, cfg.n_heads, cfg.ff_mult * d, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.n_layers, norm=nn.LayerNorm(d),
                                                 enable_nested_tensor=False)

    def patchify(self, xn: torch.Tensor) -> torch.Tensor:
        """(B, W, C) -> (B, P, patch*C): each patch's samples of all channels, time-major."""
        return xn[:, : self.n_patches * self.patch].reshape(-1, self.n_patches, self.patch * self.n_channels)

    def gates(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.use_descriptors:  # ablation: the gated injection is switched off
            zero = torch.zeros((), dtype=self.gate_e.dtype, device=self.gate_e.device)
            return zero, zero
        return torch.sigmoid(self.gate_e), torch.sigmoid(self.gate_v)

    def gate_parameters(self) -> list[nn.Parameter]:
        """The gate logits (trained at a higher learning rate: they must open within the schedule)."""
        return [self.gate_e, self.gate_v, *([self.gate_w] if self.n_features else [])]

    def forward(self, x: torch.Tensor, desc: torch.Tensor, feat: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, P, d) and the normalised patch samples (B, P, patch*C), the reconstruction target."""
        xn, dn = self.norm(x, desc)
        patches = self.patchify(xn)
        energy = dn[..., :2].reshape(-1, self.n_patches, 2 * self.n_channels)
        var = dn[..., 2]
        g_e, g_v = self.gates()
        h = self.patch_embed(patches) + g_e * self.phi_e(energy) + g_v * self.phi_v(var) + self.pos
        if self.n_features:
            if feat is None:
                raise ValueError("this encoder takes window features (ModelConfig.window_features)")
            fn = (feat - self.norm.f_mean) / self.norm.f_std
            h = h + (torch.sigmoid(self.gate_w) * self.phi_w(fn)).unsqueeze(1)
        return self.transformer(h), patches


class CosineVQ(nn.Module):
    """Cosine codebook (eq. 8): unit-norm tokens snap to the most similar unit-norm code."""

    def __init__(self, n_codes: int, dim: int, beta: float) -> None:
        super().__init__()
        self.codes = nn.Parameter(torch.randn(n_codes, dim))
        self.beta = beta

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(quantised tokens with straight-through gradient, code index, VQ loss, perplexity)."""
        z = F.normalize(tokens, dim=-1)
        codes = F.normalize(self.codes, dim=-1)
        idx = (z @ codes.T).argmax(dim=-1)
        q = codes[idx]
        return straight_through(z, q), idx, vq_loss(z, q, self.beta), codebook_perplexity(idx, len(codes))


class SemanticAlignment(nn.Module):
    """Global projection + M semantic queries cross-attending the tokens, mixed by α (eqs. 10-12)."""

    def __init__(self, cfg: ModelConfig, text_dim: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.alpha = float(cfg.alpha)
        self.global_proj = nn.Linear(d, text_dim)
        self.queries = nn.Parameter(torch.randn(cfg.n_queries, d) * 0.02)
        self.attn = nn.MultiheadAttention(d, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.query_norm = nn.LayerNorm(d)
        self.query_proj = nn.Linear(d, text_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        z_global = F.normalize(self.global_proj(tokens.mean(dim=1)), dim=-1)
        q = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        attended, _ = self.attn(q, tokens, tokens, need_weights=False)
        z_query = F.normalize(self.query_proj(self.query_norm(attended + q).mean(dim=1)), dim=-1)
        return F.normalize((1.0 - self.alpha) * z_global + self.alpha * z_query, dim=-1)


class MyoSemNet(nn.Module):
    """Encoder + VQ + reconstruction and classification heads + alignment head.

    ``forward(x, desc) -> z`` (B, text_dim), unit norm: the graph that is exported to ONNX.
    """

    def __init__(self, cfg: ModelConfig, dims: Dims) -> None:
        super().__init__()
        self.cfg, self.dims = cfg, dims
        d = cfg.d_model
        self.encoder = ActivationAwareEncoder(cfg, dims)
        self.vq = CosineVQ(cfg.codebook_size, d, cfg.vq_beta)
        self.recon = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, dims.patch * dims.n_channels))
        self.cls = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(d, dims.n_classes))
        self.align = SemanticAlignment(cfg, dims.text_dim)
        use_fast_dropout(self)  # same regularisation, a cheaper CPU mask (train/emg/dropout.py)

    def head_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The tokens the classification and alignment heads read (continuous unless configured)."""
        return self.vq(tokens)[0] if self.cfg.heads_on_quantized else tokens

    def classify(self, head_tokens: torch.Tensor) -> torch.Tensor:
        return self.cls(head_tokens.mean(dim=1))

    def forward(self, x: torch.Tensor, desc: torch.Tensor, feat: torch.Tensor | None = None) -> torch.Tensor:
        tokens, _ = self.encoder(x, desc, feat)
        return self.align(self.head_tokens(tokens))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
