"""LabRecorder XDF recordings (myosem_rt/recordings/xdf.py): a real shared recording written as XDF by the
fixture writer (tests/xdf_writer.py, after the XDF specification) reads back, through pyxdf, as the same
session, windows, eval figures and query results as the .mat it came from; the label forms; bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyxdf")

from myosem_rt import cli  # noqa: E402
from myosem_rt.config import default_config  # noqa: E402
from myosem_rt.errors import RecordingError  # noqa: E402
from myosem_rt.recordings import load_session  # noqa: E402
from myosem_rt.recordings.xdf import XdfChoice, load_xdf_session, set_choice  # noqa: E402
from myosem_rt.windowing import load_windows  # noqa: E402
from tests.xdf_writer import XdfStream, session_streams, write_xdf  # noqa: E402

CONFIG = default_config()


@pytest.fixture(autouse=True)
def _default_choice():
    set_choice(XdfChoice())
    yield
    set_choice(XdfChoice())


@pytest.fixture(scope="module")
def myo_mat(data_dir: Path) -> Path:
    return data_dir / "myodisco" / "S11_day1.mat"  # subject 11: never trained on by myo-armband


@pytest.fixture(scope="module")
def myo_xdf(myo_mat: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    session = load_session(myo_mat)
    out = tmp_path_factory.mktemp("xdf") / "S11_day1.xdf"
    return write_xdf(out, session_streams(session, channel_format="int8"))


@pytest.mark.realdata
def test_xdf_of_a_real_recording_is_the_same_session(myo_mat: Path, myo_xdf: Path) -> None:
    import pyxdf

    mat, xdf = load_session(myo_mat), load_session(myo_xdf)
    assert xdf.n_samples == mat.n_samples and xdf.fs == mat.fs
    np.testing.assert_array_equal(xdf.emg, mat.emg)
    np.testing.assert_array_equal(xdf.label, mat.label)
    np.testing.assert_array_equal(xdf.repetition, mat.repetition)  # trial k of a class = repetition k
    assert (xdf.dataset, xdf.subject, xdf.session, xdf.unit) == (mat.dataset, mat.subject, mat.session,
                                                                 mat.unit)
    assert dict(xdf.class_names) == dict(mat.class_names)
    assert xdf.channel_names == mat.channel_names and xdf.channel_types == ("EMG",) * mat.n_channels
    # the independent check: pyxdf itself gives back the samples the writer was handed
    streams, _ = pyxdf.load_xdf(str(myo_xdf), dejitter_timestamps=False)
    emg = next(s for s in streams if s["info"]["type"][0] == "EMG")
    np.testing.assert_array_equal(emg["time_series"].astype(np.float32), mat.emg)
    np.testing.assert_allclose(np.diff(emg["time_stamps"]), 1.0 / mat.fs, rtol=1e-6)


@pytest.mark.realdata
def test_xdf_gives_the_same_windows_eval_and_query(myo_mat: Path, myo_xdf: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    a, b = load_windows([myo_mat], CONFIG), load_windows([myo_xdf], CONFIG)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.label, b.label)
    figures = []
    for path in (myo_mat, myo_xdf):
        out = tmp_path / f"eval-{path.suffix[1:]}.json"
        assert cli.main(["-q", "eval", "--model", "myo-armband", "--data", str(path), "--bootstrap", "5",
                         "--episodes", "10", "--json", str(out)]) == 0
        figures.append(json.loads(out.read_text()))
    assert figures[0]["emg_to_text"]["R@1"] == figures[1]["emg_to_text"]["R@1"]
    assert figures[0]["emg_to_text"]["confusion"] == figures[1]["emg_to_text"]["confusion"]
    assert figures[0]["text_to_emg"] == figures[1]["text_to_emg"]
    queries = []
    for path in (myo_mat, myo_xdf):
        out = tmp_path / f"query-{path.suffix[1:]}.json"
        assert cli.main(["-q", "query", "make a fist", "--model", "myo-armband", "--data", str(path),
                         "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        result.pop("data")
        queries.append(result)
    assert queries[0] == queries[1] and queries[0]["segments"]
    capsys.readouterr()


def _small_session(data_dir: Path):
    return load_session(data_dir / "ciil_shift" / "S8_shift4.mat")


@pytest.mark.realdata
def test_plain_class_names_and_a_label_map(data_dir: Path, tmp_path: Path) -> None:
    s = _small_session(data_dir)
    # plain names as a lab would type them: matched to a packaged vocabulary, case and spacing ignored
    plain = write_xdf(tmp_path / "plain.xdf",
                      session_streams(s, marker_text=lambda i, n: n.upper().replace("_", " ")))
    got = load_session(plain)
    ids = {s.class_name(c): c for c in s.classes}
    want = np.vectorize(lambda c: ids[s.class_name(int(c))])(s.label)
    names = {got.class_name(c).lower().replace("_", " ") for c in got.classes}
    assert names == {n.lower().replace("_", " ") for n in ids}
    assert np.array_equal(got.label != 0, want != 0)  # gesture vs rest where the source has it
    # a label map: marker text -> class id
    streams = session_streams(s, marker_text=lambda i, n: f"cue {n}")
    mapping = {f"cue {s.class_name(c)}": 10 + c for c in s.classes}
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    mapped = load_xdf_session(write_xdf(tmp_path / "mapped.xdf", streams),
                              XdfChoice(label_map=str(tmp_path / "map.json")))
    np.testing.assert_array_equal(mapped.label, np.asarray(s.label) + 10)
    assert mapped.class_name(10 + s.classes[1]) == f"cue {s.class_name(s.classes[1])}"


@pytest.mark.realdata
def test_units_converted_and_gaps_reported_not_resampled(data_dir: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    s = _small_session(data_dir)
    streams = session_streams(s, unit="mV", scale=1.0)
    np.testing.assert_allclose(load_session(write_xdf(tmp_path / "mv.xdf", streams)).emg,
                               np.asarray(s.emg) * 1000.0, rtol=1e-6)
    assert load_session(tmp_path / "mv.xdf").unit == "microvolts"
    gap = session_streams(s)
    gap[0].stamps = gap[0].stamps.copy()
    gap[0].stamps[3000:] += 0.5  # half a second lost
    with caplog.at_level(logging.WARNING):
        got = load_session(write_xdf(tmp_path / "gap.xdf", gap))
    assert got.n_samples == s.n_samples  # the samples as they are: nothing padded, nothing dropped
    assert any("1 gap(s)" in r.getMessage() and "about 100 samples missing" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


@pytest.mark.realdata
def test_stream_choice(data_dir: Path, tmp_path: Path) -> None:
    s = _small_session(data_dir)
    a, b = session_streams(s, name="left"), session_streams(s, name="right", scale=2.0)
    path = write_xdf(tmp_path / "two.xdf", [*a, *b])
    with pytest.raises(RecordingError, match="2 candidate EMG streams 'left'.*'right'.*--stream NAME"):
        load_session(path)
    right = load_xdf_session(path, XdfChoice(stream="right"))
    np.testing.assert_array_equal(right.emg, np.asarray(s.emg) * 2.0)
    np.testing.assert_array_equal(right.label, s.label)  # its own '<name>-labels' markers


def _bad_files(data_dir: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    s = _small_session(data_dir)
    good = write_xdf(tmp_path / "good.xdf", session_streams(s))
    truncated = tmp_path / "truncated.xdf"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    markers_only = write_xdf(tmp_path / "markers.xdf", session_streams(s)[1:])
    two = write_xdf(tmp_path / "two.xdf", [*session_streams(s, name="a"), *session_streams(s, name="b")])
    nonsense = write_xdf(tmp_path / "nonsense.xdf", session_streams(s, marker_text=lambda i, n: f"trial {i}"))
    not_xdf = tmp_path / "text.xdf"
    not_xdf.write_text("hello")
    return {"truncated": (truncated, "truncated XDF"), "no EMG stream": (markers_only, "no EMG stream"),
            "two candidates": (two, "2 candidate EMG streams"),
            "markers match no class": (nonsense, "match no class"), "not XDF": (not_xdf, "not an XDF file")}


@pytest.mark.realdata
@pytest.mark.parametrize("case", ["truncated", "no EMG stream", "two candidates", "markers match no class",
                                  "not XDF"])
def test_bad_xdf_is_a_one_line_error_exit_2(case: str, data_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    path, message = _bad_files(data_dir, tmp_path)[case]
    assert cli.main(["-q", "info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0], err


def test_a_stream_of_strings_or_without_rate_is_not_emg(tmp_path: Path) -> None:
    stamps = np.arange(10) / 100.0
    irregular = XdfStream("emg", "EMG", np.zeros((10, 2)), stamps, srate=0.0)
    with pytest.raises(RecordingError, match="no nominal sampling rate"):
        load_session(write_xdf(tmp_path / "irregular.xdf", [irregular]))
    unlabelled = XdfStream("emg", "EMG", np.ones((10, 2)), stamps, srate=100.0)
    got = load_session(write_xdf(tmp_path / "unlabelled.xdf", [unlabelled]))
    assert got.n_samples == 10 and got.classes == (0,) and got.dataset == "XDF"


@pytest.mark.realdata
def test_training_protocols_take_xdf_files_of_the_shared_layout(data_dir: Path, tmp_path: Path) -> None:
    """``myosem train --data DIR``: a folder laid out like the shared data but holding LabRecorder files
    (``ciil_shift/S8_train.xdf`` ...) gives the same split and windows as the .mat files."""
    from myosem_rt.protocols import split

    (tmp_path / "ciil_shift").mkdir()
    for name in ("S8_train", "S8_shift1"):
        s = load_session(data_dir / "ciil_shift" / f"{name}.mat")
        write_xdf(tmp_path / "ciil_shift" / f"{name}.xdf", session_streams(s))
    mine = split("ciil-shift", tmp_path, subjects=[8])
    assert [p.name for p in mine.train_files] == ["S8_train.xdf"]
    assert [p.name for p in mine.test_files] == ["S8_shift1.xdf"]
    theirs = load_windows(split("ciil-shift", data_dir, subjects=[8]).train_files, CONFIG)
    np.testing.assert_array_equal(load_windows(mine.train_files, CONFIG).x, theirs.x)
    original = (data_dir / "ciil_shift" / "S8_train.mat").read_bytes()
    (tmp_path / "ciil_shift" / "S8_train.mat").write_bytes(original)
    with pytest.raises(Exception, match="both S8_train.xdf and S8_train.mat"):
        split("ciil-shift", tmp_path, subjects=[8])


@pytest.mark.lsl
@pytest.mark.realdata
def test_replay_outlet_metadata_reads_back_through_pyxdf(data_dir: Path, tmp_path: Path) -> None:
    """What LabRecorder stores of our replay outlets (each stream's own header XML) is what pyxdf shows:
    channel labels, units and types, the acquisition manufacturer/model, and a Markers stream of one
    string channel at an irregular rate; and it reads back as the recording it streamed."""
    import pylsl
    import pyxdf

    from devices.replay import ReplayDevice
    from tests.lsl_helpers import unique_name

    s = _small_session(data_dir)
    device = ReplayDevice(s, name=unique_name("xdfmeta"), wait_for_consumer=20.0)
    device.linger_s = 5.0
    device.start()
    try:
        assert device.ready.wait(10.0)
        headers = {}
        for name in (device.spec.name, device.spec.marker_name):
            inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 10.0)[0])
            headers[name] = inlet.info(timeout=10.0).as_xml()
            inlet.close_stream()
    finally:
        device.stop()
    emg, marks = session_streams(s, name=device.spec.name)
    emg.header_xml, marks.header_xml = headers[device.spec.name], headers[device.spec.marker_name]
    path = write_xdf(tmp_path / "labrecorder.xdf", [emg, marks])
    streams, _ = pyxdf.load_xdf(str(path))
    by_type = {st["info"]["type"][0]: st for st in streams}
    desc = by_type["EMG"]["info"]["desc"][0]
    channels = desc["channels"][0]["channel"]
    assert [c["label"][0] for c in channels] == list(s.channel_names)
    assert {c["unit"][0] for c in channels} == {s.unit} and {c["type"][0] for c in channels} == {"EMG"}
    assert desc["acquisition"][0]["manufacturer"][0] == "MyoSem-RT replay"
    assert desc["acquisition"][0]["model"][0] == s.device
    markers = by_type["Markers"]["info"]
    layout = (markers["channel_count"][0], markers["channel_format"][0], float(markers["nominal_srate"][0]))
    assert layout == ("1", "string", 0.0)
    got = load_session(path)
    np.testing.assert_array_equal(got.emg, s.emg)
    np.testing.assert_array_equal(got.label, s.label)
    assert got.channel_names == s.channel_names and (got.dataset, got.subject) == (s.dataset, s.subject)


@pytest.mark.realdata
def test_enrol_from_an_xdf_recording_equals_enrol_from_its_mat(data_dir: Path, tmp_path: Path) -> None:
    """``myosem enrol --recording FILE.xdf`` builds the very profile the .mat gives."""
    from myosem_rt.profile.profile import UserProfile

    mat = data_dir / "ciil_shift" / "S8_train.mat"
    xdf = write_xdf(tmp_path / "S8_train.xdf", session_streams(load_session(mat)))
    profiles = []
    for path in (mat, xdf):
        out = tmp_path / f"p-{path.suffix[1:]}"
        argv = ["-q", "enrol", "--recording", str(path), "--trials", "1", "--profile", str(out)]
        assert cli.main(argv) == 0
        profiles.append(UserProfile.load(out).arrays())
    assert profiles[0].keys() == profiles[1].keys()
    for key in profiles[0]:
        np.testing.assert_array_equal(profiles[0][key], profiles[1][key])
