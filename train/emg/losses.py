"""The stage-2 and stage-3 objectives (paper eqs. 8, 9 and 13), as plain functions of tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vq_loss(z: torch.Tensor, q: torch.Tensor, beta: float) -> torch.Tensor:
    """Codebook + commitment loss of eq. 8 for unit-norm tokens ``z`` and their chosen unit-norm codes ``q``.

    The codebook term pulls the chosen codes toward the (frozen) tokens; the commitment term, weighted by
    ``beta``, keeps the encoder's tokens close to the (frozen) codes so they do not drift away from them.
    """
    codebook = F.mse_loss(q, z.detach())
    commitment = F.mse_loss(z, q.detach())
    return codebook + beta * commitment


def straight_through(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` in the forward pass, the identity to ``z`` in the backward pass (argmin has no gradient)."""
    return z + (q - z).detach()


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_rec: mean squared error on the normalised patch samples."""
    return F.mse_loss(pred, target)


def info_nce_to_prototypes(
    z: torch.Tensor, prototypes: torch.Tensor, target: torch.Tensor, tau: float
) -> torch.Tensor:
    """Eq. 13: cross-entropy of ``z · Pᵀ / tau`` against each window's class row in ``prototypes``.

    ``z`` (B, D) and ``prototypes`` (K, D) are unit-norm; ``target`` (B,) indexes rows of ``prototypes``.
    The prototypes are frozen text embeddings, so only the EMG side moves toward its class's text.
    """
    logits = z @ prototypes.T / tau
    return F.cross_entropy(logits, target)


def codebook_perplexity(idx: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(entropy) of code usage in a batch: how many codes are effectively in use (logged, not trained)."""
    counts = torch.bincount(idx.reshape(-1), minlength=n_codes).float()
    p = counts / counts.sum().clamp(min=1.0)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())
