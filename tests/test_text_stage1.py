"""Stage-1 data handling and training: hold-outs never reach the training batches, only the top learns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from myosem_rt import text_encoder as rt  # noqa: E402
from myosem_rt.errors import ConfigError  # noqa: E402
from train.text import encoder as enc  # noqa: E402
from train.text.report import evaluate, heldout_paraphrases, view_agreement  # noqa: E402
from train.text.stage1 import (  # noqa: E402
    Stage1Config,
    collect_training_texts,
    make_tower,
    prototype_classes,
    sample_batch,
    torch_encoder,
    train_stage1,
)


@dataclass(frozen=True)
class Cls:
    class_id: int
    action: str
    t0: str
    t1: str
    t2: str
    t3: tuple[str, ...]


@dataclass(frozen=True)
class Vocab:
    name: str
    dataset: str
    classes: tuple[Cls, ...]


FIST = ("Fingers curl into the palm and the thumb folds over them.", "Closing the hand into a fist.",
        ("make a fist", "clench your hand", "squeeze your hand shut"))
OPEN = ("Fingers extend and spread away from the palm.", "Opening the hand wide.",
        ("open your hand", "spread your fingers", "show your palm"))
REST = ("Nothing moves; the muscles stay relaxed.", "The hand stays relaxed.",
        ("relax your hand", "do nothing", "let it rest"))
FLEX = ("The wrist bends so the palm moves toward the forearm.", "Bending the wrist down.",
        ("bend your wrist down", "curl the wrist", "drop the hand at the wrist"))

VA = Vocab("va", "A", (Cls(0, "rest", "Rest", *REST), Cls(1, "hand_close", "Fist", *FIST),
                       Cls(2, "hand_open", "Open", *OPEN)))
VB = Vocab("vb", "B", (Cls(5, "hand_close", "Power grip", *FIST), Cls(6, "wrist_flexion", "Flexion", *FLEX)))


def texts_of(*classes: Cls) -> set[str]:
    return {t for c in classes for t in (c.t0, c.t1, c.t2, *c.t3)}


@pytest.fixture(scope="module")
def cfg() -> Stage1Config:
    return Stage1Config(steps=3, batch_actions=4, seed=1, threads=2)


@pytest.fixture(scope="module")
def tower(cfg: Stage1Config) -> enc.TextTower:
    return make_tower(cfg)


def test_texts_are_pooled_per_action_and_holdouts_removed() -> None:
    texts = collect_training_texts([VA, VB], holdout_classes=[("va", 2)], holdout_texts=["make a fist"])
    assert {a.action for a in texts.actions} == {"rest", "hand_close", "wrist_flexion"}
    fist = next(a for a in texts.actions if a.action == "hand_close")
    assert set(fist.views[0]) == {"Fist", "Power grip"}  # both datasets' labels are T0 of the action
    assert "make a fist" not in texts.all_texts() and "clench your hand" in fist.views[3]
    assert texts.excluded_actions == {"hand_open"}
    # a held-out class removes its action in every vocabulary (same T1-T3 texts would leak it)
    both = collect_training_texts([VA, VB], holdout_classes=[("vb", 5)])
    assert "hand_close" not in {a.action for a in both.actions}
    assert not texts_of(VA.classes[1]) & set(both.all_texts())


def test_collect_rejects_bad_holdouts() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        collect_training_texts([VA], holdout_classes=[("va", 99)])
    with pytest.raises(ConfigError, match="no t1"):
        collect_training_texts([VA], holdout_texts=[REST[0]])
    with pytest.raises(ConfigError, match="at least 2 actions"):
        collect_training_texts([VA], exclude_actions=["rest", "hand_open"])
    with pytest.raises(ConfigError, match="unknown option"):
        Stage1Config.from_mapping({"stepz": 3})
    with pytest.raises(ConfigError, match="stage1.tau: invalid"):
        Stage1Config.from_mapping({"tau": "warm"})
    cfg = Stage1Config.from_mapping({"lr_head": "3e-4", "per_view": [1, 1, 1, 3], "steps": 7.0})
    assert (cfg.lr_head, cfg.per_view, cfg.steps) == (3e-4, (1, 1, 1, 3), 7)


def test_batches_hold_distinct_actions_with_multiple_positives(cfg: Stage1Config) -> None:
    texts = collect_training_texts([VA, VB])
    batch = sample_batch(texts, cfg, np.random.default_rng(0))
    assert sorted(batch) == [0, 1, 2, 3]
    items, groups = batch[3]
    assert len(items) == 2 * len(set(groups))  # two paraphrases per action in T3: multi-positive
    assert len(set(batch[1][1])) == len(batch[1][1])  # one T1 per action


def test_heldout_texts_never_reach_training(cfg: Stage1Config, tower, monkeypatch) -> None:
    seen: list[str] = []
    real_init, real_embed = enc.StateCache.__init__, enc.StateCache.embed

    def spy_init(self, tower, texts, batch_size=64):  # noqa: ANN001, ANN202
        seen.extend(texts)
        real_init(self, tower, texts, batch_size)

    def spy_embed(self, texts):  # noqa: ANN001, ANN202
        seen.extend(texts)
        return real_embed(self, texts)

    monkeypatch.setattr(enc.StateCache, "__init__", spy_init)
    monkeypatch.setattr(enc.StateCache, "embed", spy_embed)
    heldout = {"let it rest"}
    texts = collect_training_texts(
        [VA, VB], holdout_classes=[("vb", 6)], exclude_actions=["hand_open"], holdout_texts=heldout
    )
    history = train_stage1(tower, texts, cfg)
    assert len(history) == cfg.steps and all(np.isfinite(h["loss"]) for h in history)
    assert seen, "spy saw nothing: the check below would be vacuous"
    forbidden = texts_of(VB.classes[1]) | texts_of(VA.classes[2]) | heldout
    assert not forbidden & set(seen)
    assert {"relax your hand", "make a fist", "Power grip"} <= set(seen)
    # the held-out meaning is embedded only afterwards, with the trained tower
    protos = rt.build_prototypes(torch_encoder(tower), prototype_classes([VB]))
    assert protos.view_embeddings.shape == (2, 4, tower.dim)


def test_only_the_trainable_top_changes() -> None:
    cfg = Stage1Config(steps=4, batch_actions=4, seed=2, train_layers=1, lr_layers=1e-3)
    tower = make_tower(cfg)
    frozen = {n: p.detach().clone() for n, p in tower.named_parameters() if not p.requires_grad}
    top = {n: p.detach().clone() for n, p in tower.named_parameters() if p.requires_grad}
    assert any(n.startswith("layers.5.") for n in top) and any(n.startswith("head.") for n in top)
    assert not any(n.startswith(("embeddings.", "layers.4.")) for n in top)
    texts = ["make a fist", "a much longer sentence about opening the hand"]
    base = _sentence_transformer_reference(tower, texts)
    assert torch.allclose(tower.encode(texts), base, atol=1e-5)  # untrained tower == the base encoder
    train_stage1(tower, collect_training_texts([VA, VB]), cfg)
    params = dict(tower.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in frozen.items())
    assert any(not torch.equal(params[n], v) for n, v in top.items())
    assert not torch.allclose(tower.encode(texts), base, atol=1e-3)


def _sentence_transformer_reference(tower: enc.TextTower, texts: list[str]) -> torch.Tensor:
    """all-MiniLM-L6-v2 as sentence-transformers defines it: BertModel -> masked mean -> L2 normalise."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(enc.base_model_dir()), local_files_only=True).eval()
    b = tower.tokenize(texts)
    with torch.no_grad():
        hidden = model(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state
    m = b.attention_mask.unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)


def test_view_agreement_and_report_metrics(tower) -> None:
    # Hand-made per-view embeddings: class 0 views identical, class 1 orthogonal to class 0.
    e0, e1 = np.eye(3, dtype=np.float32)[0], np.eye(3, dtype=np.float32)[1]
    ve = np.stack([np.stack([e0] * 4), np.stack([e1, e1, e1, e0])])
    protos = rt.TextPrototypes(np.array(["v", "v"]), np.array([0, 1]), np.array(["a", "b"]),
                               np.array(["A", "B"]), ve, rt.l2_normalize(ve.mean(1)))
    m = view_agreement(protos)
    # same-class cross-view pairs: class 0 -> 12 pairs of 1.0; class 1 -> 6 pairs of 1 and 6 of 0
    assert m["same_class_cross_view"] == pytest.approx(18 / 24)
    # different-class pairs (both orders): class-0 views vs class-1 views = 3x4 zeros + 1x4 ones, twice
    assert m["different_class"] == pytest.approx(8 / 32)
    held = heldout_paraphrases([VA, VB], seed=0)
    assert set(held) == {"rest", "hand_close", "hand_open", "wrist_flexion"}
    result = evaluate(torch_encoder(tower), [VA, VB], held)
    assert result["pooled"]["n_queries"] == len(VA.classes) + len(VB.classes)
    assert 0.0 <= result["pooled"]["retrieval_multiview"] <= 1.0
