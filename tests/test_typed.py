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
    view = TypedCandidates(model, [TAP], encoder)
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
