"""Typed gestures as live candidates (myosem_rt/typed.py, ``myosem live --describe``): ranked beside the
model's classes by the same cosine, with no enrolment (issue 17, run-time part)."""

from __future__ import annotations

import numpy as np
import pytest

from myosem_rt import cli
from myosem_rt.errors import ConfigError
from myosem_rt.typed import TypedCandidates, parse_typed

TAP = ("thumb tap", "Tapping the tip of the thumb against the side of the index finger.")


def test_typed_gesture_is_one_more_cosine_candidate() -> None:
    from myosem_rt.descriptors import patch_descriptors
    from myosem_rt.live.engine import LiveEngine, LiveSettings
    from myosem_rt.model import MyoSemModel
    from myosem_rt.text_encoder import TextEncoder

    model = MyoSemModel.load("myo-armband")
    encoder = TextEncoder.load(model.text_dir)
    view = TypedCandidates(model, [TAP], encoder, anatomy_weight=0.0)  # the words alone (no muscles read)
    k = len(model.class_ids)
    assert len(view.class_ids) == k + 1 and view.class_ids[-1] == max(model.class_ids) + 1
    assert view.class_names[-1] == "thumb tap" and view.descriptions[-1] == TAP[1]
    x = np.random.default_rng(0).normal(size=(3, model.window, model.n_channels)).astype(np.float32) * 20
    z = view.encode(x, patch_descriptors(x, model.patch).astype(np.float32))
    scores, order = view.rank(z)
    text = encoder.encode([TAP[1]])[0]
    np.testing.assert_allclose(scores[:, k], z @ (text / np.linalg.norm(text)), atol=1e-5)
    np.testing.assert_allclose(scores[:, :k], model.rank(z)[0], atol=1e-6)  # the model's own ranking
    assert order.shape == (3, k + 1)

    class Window:
        index, segment, timestamp = 0, 0, 0.0
        samples, descriptors = x[0], patch_descriptors(x[:1], model.patch)[0].astype(np.float32)

    result = LiveEngine(view, LiveSettings.from_config({})).step(Window())
    assert len(result.scores) == k + 1

    # calibrated stacking at run time: the offset lifts the typed gesture's cosine and nothing else
    lifted = TypedCandidates(model, [TAP], encoder, offset=0.3, anatomy_weight=0.0).rank(z)[0]
    np.testing.assert_allclose(lifted[:, k], scores[:, k] + 0.3, atol=1e-5)
    np.testing.assert_allclose(lifted[:, :k], scores[:, :k], atol=1e-6)


def test_describe_offset_default_and_bad_value() -> None:
    from myosem_rt.live.engine import LiveSettings

    assert LiveSettings.from_config({}).describe_offset == pytest.approx(0.13)  # config.yaml's bench choice
    assert LiveSettings.from_config({}, describe_offset=0.0).describe_offset == 0.0
    with pytest.raises(ConfigError, match="describe_offset"):
        LiveSettings.from_config({}, describe_offset=-1.5)
    s = LiveSettings.from_config({})  # the stream's novelty: on, the bench's offsets (below 0: held back)
    assert (s.describe_novelty, s.describe_novelty_offset, s.describe_novelty_offset_anatomy) == (
        pytest.approx(0.3), pytest.approx(0.01), pytest.approx(-0.09))
    assert LiveSettings.from_config({}, describe_offset=-0.5).describe_offset == -0.5


def test_typed_gestures_bad_input_is_one_line(capsys: pytest.CaptureFixture) -> None:
    for values, message in ((["no equals sign"], "expected NAME=DESCRIPTION"), (["a=", "b=c"], "expected"),
                            (["tap=x", "Tap=y"], "given twice")):
        with pytest.raises(ConfigError, match=message):
            parse_typed(values)
    from myosem_rt.model import MyoSemModel

    with pytest.raises(ConfigError, match="is a class of the model already"):
        TypedCandidates(MyoSemModel.load("myo-armband"), [("rest", "doing nothing")], encoder=None)
    assert cli.main(["-q", "live", "--name", "nobody", "--describe", "oops"]) == 2
    assert "expected NAME=DESCRIPTION" in capsys.readouterr().err
    assert cli.main(["-q", "live", "--name", "nobody", "--profile", "p", "--describe", "a=b"]) == 2
    assert "enrol" in capsys.readouterr().err
    assert cli.main(["-q", "live", "--name", "nobody", "--describe", "a=b", "--describe-offset", "-1"]) == 2
    assert "describe_offset" in capsys.readouterr().err
    assert cli.main(["-q", "live", "--name", "nobody", "--describe", "a=b", "--describe-novelty", "-1"]) == 2
    assert "describe_novelty" in capsys.readouterr().err
    assert cli.main(["-q", "live", "--name", "nobody", "--describe-only"]) == 2
    assert "--describe-only: type the gestures" in capsys.readouterr().err
    assert cli.main(["-q", "live", "--name", "nobody", "--describe", "thumb_up", "--describe-only",
                     "--describe-novelty", "0.5"]) == 2
    assert "takes no --describe-novelty" in capsys.readouterr().err


def test_a_catalogue_action_is_described_and_placed_by_its_muscles() -> None:
    """``--describe thumb_up`` on the 3DC model (which never saw a thumbs-up): the catalogue's description,
    and a prototype moved toward the trained actions that drive the same muscles (myosem_rt/anatomy.py);
    a free description that reads like no catalogue action stays where its words put it."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.vocab import load_actions

    typed = parse_typed(["thumb_up", "chat=Talking about the weather with a friend today."])
    assert typed[0] == ("thumb_up", load_actions()["thumb_up"].t2, "thumb_up") and typed[1].action == ""
    model = MyoSemModel.load("3dc-armband")
    encoder = TextEncoder.load(model.text_dir)
    view = TypedCandidates(model, typed, encoder)
    assert view.anatomical == ["thumb_up"]
    k = len(model.class_ids)
    words = encoder.encode([typed[0].description, typed[1].description])
    words = words / np.linalg.norm(words, axis=1, keepdims=True)
    assert float(view.prototypes[k] @ words[0]) < 0.99  # moved by its anatomy
    np.testing.assert_allclose(view.prototypes[k + 1], words[1], atol=1e-5)  # read as no action: not moved
    assert view.readings == {}
    np.testing.assert_allclose(np.linalg.norm(view.prototypes, axis=1), 1.0, atol=1e-5)
    # thumb up closes the fingers and extends the thumb: nearer power grip than its wording alone is
    grip = model.prototypes[model.actions.index("hand_close")]
    assert float(view.prototypes[k] @ grip) > float(words[0] @ grip)
    plain = TypedCandidates(model, typed, encoder, anatomy_weight=0.0)
    assert plain.anatomical == [] and np.allclose(plain.prototypes[k], words[0], atol=1e-5)
    with pytest.raises(ConfigError, match="class of the model already"):
        TypedCandidates(model, parse_typed(["hand_close"]), encoder)
    with pytest.raises(ConfigError, match="action id of the catalogue"):
        parse_typed(["thumbs_upp"])


def test_a_free_description_is_placed_by_the_muscles_it_reads_as(caplog: pytest.LogCaptureFixture) -> None:
    """``--describe "tilt=tilt your hand toward your little finger"``: a wearer's own words for an action the
    shipped 3DC model trained on (ulnar deviation) read as that action through the catalogue
    (myosem_rt/muscle_match.py), so the free description is placed by its muscles like ``--describe
    ACTION``, with the anatomy offset, and a warning that the model knows that gesture already; a
    description of a catalogue action the model never trained on (thumbs up) likewise, with no warning;
    with no anatomy weight, nothing is read."""
    import logging

    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.model import MyoSemModel
    from myosem_rt.muscle_match import MuscleReader
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.typed import with_typed
    from myosem_rt.vocab.muscles import load_muscles

    model = MyoSemModel.load("3dc-armband")
    encoder = TextEncoder.load(model.text_dir)
    reader = MuscleReader(encoder)
    tilt, up, chat = reader.read(["tilt your hand toward your little finger", "give a thumbs up",
                                  "Talking about the weather with a friend today."])
    assert (tilt.action, up.action, chat) == ("wrist_ulnar_deviation", "thumb_up", None)
    # a dataset's short label is read as its action: another armband's name for a fist, and a bare word
    grip, bend = reader.read(["Power Grip", "flexion"])
    assert (grip.action, bend.action) == ("hand_close", "wrist_flexion") and grip.cosine > 0.99
    table = load_muscles()
    ulnar = table.actions["wrist_ulnar_deviation"]  # its prime movers, flexor and extensor carpi ulnaris
    assert tilt.vector @ ulnar / (np.linalg.norm(tilt.vector) * np.linalg.norm(ulnar)) > 0.9
    assert tilt.vector @ table.actions["wrist_ulnar_deviation"] > tilt.vector @ table.actions[
        "wrist_radial_deviation"]
    typed = [("up", "give a thumbs up"), ("lean", "swing the hand over to the little-finger side")]
    with caplog.at_level(logging.INFO, logger="myosem_rt.typed"):
        view = with_typed(model, typed, LiveSettings.from_config({}))
    assert view.anatomical == ["up", "lean"] and set(view.readings) == {"up", "lean"}
    assert "up reads like thumb_up (cosine" in caplog.text and "thumb_up, which" not in caplog.text
    # the model trained on ulnar deviation: a typed near-duplicate would split its windows, and is told so
    assert "lean reads like wrist_ulnar_deviation, which the model already knows" in caplog.text
    k = len(model.class_ids)
    words = encoder.encode([t[1] for t in typed])
    words = words / np.linalg.norm(words, axis=1, keepdims=True)
    assert float(view.prototypes[k] @ words[0]) < 0.99  # moved by the muscles it reads as
    np.testing.assert_allclose(view.offsets[k:], [LiveSettings.from_config({}).describe_offset_anatomy] * 2)
    plain = TypedCandidates(model, typed, encoder, anatomy_weight=0.0)
    assert plain.anatomical == [] and plain.readings == {}
    with pytest.raises(ValueError, match="temperature"):
        MuscleReader(encoder, temperature=0.0)
    from myosem_rt.muscle_match import reader_for

    assert reader_for(encoder) is reader_for(encoder)  # the catalogue is embedded once per encoder


def test_query_text_embeds_an_action_id_as_live_ranks_it(capsys: pytest.CaptureFixture) -> None:
    from myosem_rt.model import MyoSemModel
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.typed import QueryText

    model = MyoSemModel.load("3dc-armband")
    encoder = TextEncoder.load(model.text_dir)
    q = QueryText(model, encoder).encode(["hand_close", "thumb_up", TAP[1]])
    np.testing.assert_allclose(q[0], model.prototypes[model.actions.index("hand_close")], atol=1e-6)
    placed = TypedCandidates(model, parse_typed(["thumb_up"]), encoder).prototypes[-1]
    np.testing.assert_allclose(q[1], placed, atol=1e-6)
    # free text: placed by the muscles it reads as, as --describe NAME=TEXT places it; else its words alone
    np.testing.assert_allclose(q[2], TypedCandidates(model, [TAP], encoder).prototypes[-1], atol=1e-6)
    tap = encoder.encode([TAP[1]])[0]
    assert float(q[2] @ tap) / np.linalg.norm(tap) < 0.99  # the tap reads like a catalogue action: moved
    chat = "Talking about the weather with a friend today."
    words = encoder.encode([chat])[0]
    np.testing.assert_allclose(QueryText(model, encoder).encode([chat])[0], words / np.linalg.norm(words),
                               atol=1e-5)


def test_held_out_classes_typed_back_as_live_ranks_them() -> None:
    """``myosem eval`` scores the run-time path on a held-out model: the model without the held-out classes,
    each typed back by its action id; a gesture placed by its anatomy gets the anatomy offset."""
    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.model import MyoSemModel
    from myosem_rt.text_encoder import TextEncoder
    from myosem_rt.typed import typed_back
    from myosem_rt.vocab import load_actions

    model = MyoSemModel.load("3dc-armband")
    settings = LiveSettings.from_config({}, describe_offset=0.32, describe_offset_anatomy=0.25)
    view, columns = typed_back(model, [3, 6, 10], TextEncoder.load(model.text_dir), settings)
    assert len(view.class_ids) == len(model.class_ids)
    assert sorted(columns.tolist()) == model.class_ids.tolist()
    assert columns[-3:].tolist() == [3, 6, 10] and not np.isin(columns[:-3], [3, 6, 10]).any()
    assert set(view.anatomical) == {model.actions[i] for i in (3, 6, 10)}  # each has muscles someone shares
    np.testing.assert_allclose(view.offsets, [0.0] * 8 + [0.25] * 3)
    # free: each typed back in a wearer's words (its first paraphrase), placed by the muscles it reads as
    words, _ = typed_back(model, [3, 6, 10], TextEncoder.load(model.text_dir), settings, free=True)
    actions = load_actions()
    assert words.descriptions[-3:] == [actions[model.actions[i]].t3[0] for i in (3, 6, 10)]
    assert words.actions[-3:] == [""] * 3 and set(words.readings) == set(words.anatomical)
    assert words.readings[model.actions[3]].action == "wrist_ulnar_deviation"
    np.testing.assert_allclose(words.offsets[-3:], [0.25 if model.actions[i] in words.readings else 0.32
                                                    for i in (3, 6, 10)])
    chat = ("chat", "Talking about the weather with a friend today.")
    free = TypedCandidates(model, [chat], TextEncoder.load(model.text_dir), 0.32, anatomy_offset=0.25)
    assert free.offsets[-1] == pytest.approx(0.32)  # a description read as no action keeps the plain offset
    assert LiveSettings.from_config({}).describe_offset_anatomy == pytest.approx(0.01)


def test_the_streams_novelty_leans_typed_gestures_ahead_once_fitted() -> None:
    """``live.describe_novelty``: a hop without a novelty yet (NaN: before the stream's first fit, or a
    gesture it has not shown) is ranked with the plain offsets; one with a novelty with the novelty offsets
    plus beta x the novelty, on the typed gestures only. The live engine feeds each hop's window to it."""
    from myosem_rt.descriptors import patch_descriptors
    from myosem_rt.groups import log_mav
    from myosem_rt.live.engine import LiveEngine, LiveSettings
    from myosem_rt.model import MyoSemModel
    from myosem_rt.text_encoder import TextEncoder

    model = MyoSemModel.load("3dc-armband")
    view = TypedCandidates(model, [TAP], TextEncoder.load(model.text_dir), 0.3, novelty=0.5,
                           novelty_offsets=(0.1, 0.05), anatomy_weight=0.0)
    k = len(model.class_ids)
    assert view.is_typed.tolist() == [False] * k + [True] and view.novelty_offsets[-1] == pytest.approx(0.1)
    z = np.eye(view.prototypes.shape[1], dtype=np.float32)[:3]
    plain = view.rank(z)[0]
    lean = view.rank(z, np.array([2.0, -1.0, np.nan]))[0]
    np.testing.assert_allclose(lean[:, :k], plain[:, :k], atol=1e-6)
    np.testing.assert_allclose(lean[:2, k], plain[:2, k] - 0.3 + 0.1 + 0.5 * np.array([2.0, -1.0]), atol=1e-5)
    np.testing.assert_allclose(lean[2], plain[2], atol=1e-6)  # no novelty: the plain offsets

    class Stream:  # a stand-in for StreamNovelty: none for two hops, then 2.0 (its rule: test_novelty.py)
        def __init__(self) -> None:
            self.pushed: list[tuple[np.ndarray, np.ndarray]] = []

        def push(self, features: np.ndarray, known_scores: np.ndarray) -> float | None:
            self.pushed.append((features, known_scores))
            return None if len(self.pushed) <= 2 else 2.0

        def reset(self) -> None:  # a new engine starts a new stream
            self.pushed = []

    view.stream = Stream()
    engine = LiveEngine(view, LiveSettings.from_config({}))
    samples = np.random.default_rng(0).normal(size=(3, model.window, model.n_channels)) * 20

    class Window:
        index, segment, timestamp = 0, 0, 0.0

        def __init__(self, x: np.ndarray) -> None:
            self.samples = x
            self.descriptors = patch_descriptors(x[None], model.patch)[0].astype(np.float32)

    steps = [engine.step(Window(x)) for x in samples]
    features, known = view.stream.pushed[0]
    np.testing.assert_allclose(features, log_mav(samples[:1])[0])  # the window's log MAV
    np.testing.assert_allclose(known, view.rank(steps[0].z)[0][0, :k], atol=1e-5)  # the trained classes
    np.testing.assert_allclose(steps[1].scores, view.rank(steps[1].z)[0][0], atol=1e-5)
    np.testing.assert_allclose(steps[2].scores[k], view.rank(steps[2].z)[0][0, k] - 0.3 + 0.1 + 1.0,
                               atol=1e-5)


def test_describe_only_ranks_rest_and_the_typed_gestures_named_by_their_group() -> None:
    """``--describe-only``: the rest class and the typed gestures are the candidates (typed ones placed by
    their anatomy among every trained class first); a window a typed gesture wins joins the stream's groups
    and, once they are cut, the group's name takes the window's best typed score (a swap: rest and the
    scores themselves are unchanged). No novelty with it, no rest class: refused."""
    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.model import MyoSemModel
    from myosem_rt.text_encoder import TextEncoder

    model = MyoSemModel.load("3dc-armband")
    encoder = TextEncoder.load(model.text_dir)
    typed = parse_typed(["thumb_up", "=".join(TAP)])
    full = TypedCandidates(model, typed, encoder, 0.3, anatomy_offset=0.2)
    view = TypedCandidates(model, typed, encoder, 0.3, anatomy_offset=0.2, only=True)
    assert view.class_names[1:] == ["thumb_up", "thumb tap"] and view.actions[0] == "rest"
    assert view.is_typed.tolist() == [False, True, True] and view.groups.k == 2
    np.testing.assert_allclose(view.prototypes, full.prototypes[[0, -2, -1]])  # anatomy as in the full view
    assert set(full.readings) == {"thumb tap"}  # the free description reads as a catalogue action too
    np.testing.assert_allclose(view.offsets, [0.0, 0.2, 0.2])  # so both take the anatomy offset
    rng = np.random.default_rng(3)
    z = rng.normal(size=(12, view.prototypes.shape[1])).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    z[:, :] += 3.0 * view.prototypes[1]  # every window: a typed gesture wins, thumb_up by its own score
    patterns = np.where(np.arange(12)[:, None] % 2 == 0, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    out = [view.rank_features(z[i : i + 1], patterns[i]) for i in range(12)]
    plain = view.rank(z)[0]
    for i, (scores, order) in enumerate(out):
        assert sorted(scores[0].tolist()) == pytest.approx(sorted(plain[i].tolist()), abs=1e-5)
        assert scores[0, 0] == pytest.approx(plain[i, 0], abs=1e-5) and order[0, 0] in (1, 2)
    first = [o[0, 0] for _, o in out[:5]]
    assert first == [1] * 5  # before the first cut (3 windows per typed gesture): their own scores
    named = [int(o[0, 0]) for _, o in out[6:]]
    assert set(named) == {1, 2} and named[0::2] != named[1::2]  # two groups, one name each
    view.new_stream()
    assert int(view.rank_features(z[:1], patterns[0])[1][0, 0]) == 1
    with pytest.raises(ConfigError, match="no --describe-novelty"):
        TypedCandidates(model, [TAP], encoder, novelty=0.5, only=True)
    settings = LiveSettings.from_config({}, describe_only=True)
    assert settings.describe_only and not LiveSettings.from_config({}).describe_only
    assert settings.describe_novelty > 0  # the default: dropped for --describe-only, not an error
    assert TypedCandidates.from_settings(model, [TAP], encoder, settings).novelty == 0.0
    with pytest.raises(ConfigError, match="describe_only"):
        LiveSettings.from_config({"live": {"describe_only": "yes"}})
