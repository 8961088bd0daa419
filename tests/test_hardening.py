"""Issue 16: one test per defect found by bad input, faults and a new user's habits (each failed before
its fix)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from myosem_rt import cli

ROOT = Path(__file__).resolve().parents[1]


def test_onnxruntime_telemetry_is_switched_off_even_when_the_host_imported_it_first() -> None:
    """Item 7: ORT_DISABLE_TELEMETRY only works before onnxruntime's import; a host program that imported
    it first still gets telemetry events disabled, by onnxruntime's own switch, before any session."""
    code = """
import onnxruntime as ort
calls = []
ort.disable_telemetry_events = lambda: calls.append(1)
from myosem_rt.model import MyoSemModel
MyoSemModel.load("myo-armband")
assert calls, "disable_telemetry_events was not called"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.realdata
def test_result_files_are_checked_before_the_work_and_never_overwritten_unasked(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Item 4: --json / --jsonl into an existing file or a missing folder is refused in one line before any
    model runs; --force overwrites (atomically)."""
    recording = str(data_dir / "ciil_shift" / "S8_shift4.mat")
    old = tmp_path / "old.json"
    old.write_text("keep")
    cases = [
        (["eval", "--model", "myo-armband", "--data", recording, "--json", str(old)], "file exists"),
        (["eval", "--model", "myo-armband", "--data", recording, "--json", str(tmp_path / "no" / "e.json")],
         "does not exist"),
        (["query", "make a fist", "--model", "myo-armband", "--data", recording, "--json", str(old)],
         "file exists"),
        (["live", "--name", "nobody-streams-this", "--jsonl", str(old)], "file exists"),
        (["calibrate-eval", "--model", "myo-armband", "--data", str(data_dir), "--protocol", "ciil-shift",
          "--json", str(old)], "file exists"),
    ]
    for argv, message in cases:
        t = time.monotonic()
        assert cli.main(["-q", *argv]) == 2
        line = _one_line(capsys)
        assert message in line and argv[0] in line, line
        assert time.monotonic() - t < 3.0  # before loading, encoding or resolving anything
    assert old.read_text() == "keep"
    assert cli.main(["-q", "eval", "--model", "myo-armband", "--data", recording, "--json", str(old),
                     "--force", "--bootstrap", "2", "--episodes", "2"]) == 0
    assert json.loads(old.read_text())["emg_to_text"]["n"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["old.json"]  # no temporary file left behind


def test_jsonl_that_cannot_be_written_is_one_line() -> None:
    """Item 9: --jsonl /dev/full and a closed pipe (``--jsonl - | head -1``) are one-line errors."""
    from myosem_rt.errors import ConfigError, OutputClosed
    from myosem_rt.live.outputs import JsonlWriter

    class _Hop:
        def record(self) -> dict:
            return {"index": 1}

    if Path("/dev/full").exists():
        writer = JsonlWriter("/dev/full")
        with pytest.raises(ConfigError, match="--jsonl /dev/full: cannot write"):
            writer.publish(_Hop())
    code = """
import sys
from myosem_rt.errors import OutputClosed
from myosem_rt.live.outputs import JsonlWriter
class Hop:
    def record(self):
        return {"x": "y" * 1000}
w = JsonlWriter("-")
try:
    for _ in range(10000):
        w.publish(Hop())
except OutputClosed as exc:
    print(str(exc), file=sys.stderr)
    sys.exit(2)
"""
    proc = subprocess.run(f"{sys.executable} -c '{code}' | head -c 10 > /dev/null", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    err = proc.stderr.strip().splitlines()
    assert err == ["--jsonl -: the reader closed the pipe; live stops"], proc.stderr
    assert OutputClosed.exit_code == 2


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(90)
def test_live_into_a_full_disk_is_one_line_and_releases_the_stream(data_dir: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """Item 9: a sink that fails (here every write to /dev/full) ends live with one line, and the inlet is
    closed even when closing the sinks fails too."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    from devices.replay import ReplayDevice
    from myosem_rt.recordings import load_session
    from myosem_rt.stream import consumer as consumer_module
    from tests.lsl_helpers import unique_name

    closed = []
    original = consumer_module.StreamConsumer.close

    def close(self) -> None:
        closed.append(True)
        original(self)

    session = load_session(data_dir / "ciil_shift" / "S8_shift4.mat")
    replay = ReplayDevice(session, name=unique_name("full"), speed=4.0, wait_for_consumer=20.0)
    replay.linger_s = 30.0
    replay.start()
    try:
        assert replay.ready.wait(10.0)
        consumer_module.StreamConsumer.close = close
        rc = cli.main(["-q", "live", "--name", replay.spec.name, "--model", "myo-armband", "--jsonl",
                       "/dev/full", "--force", "--duration", "10"])
    finally:
        consumer_module.StreamConsumer.close = original
        replay.stop()
    line = _one_line(capsys)
    assert rc == 2 and "--jsonl /dev/full: cannot write" in line, line
    assert closed == [True]


@pytest.mark.realdata
def test_scoring_a_recording_the_model_was_trained_on_says_so_loudly(data_dir: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """Item 5: eval / query on a recording listed (by sha256) in the model's training files warn, even
    under another name; a recording it never saw does not."""
    import shutil

    from myosem_rt.model import MyoSemModel

    model = MyoSemModel.load("myo-armband")
    trained = data_dir / model.manifest["data"]["train_files"][0]["name"]
    renamed = tmp_path / "my_session.mat"
    shutil.copy(trained, renamed)
    shutil.copy(trained.parent / "labels.json", tmp_path / "labels.json")
    out = tmp_path / "e.json"
    assert cli.main(["-q", "eval", "--model", "myo-armband", "--data", str(renamed), "--json", str(out),
                     "--bootstrap", "2", "--episodes", "2"]) == 0
    assert json.loads(out.read_text())["trained_on"] == [str(renamed)]
    printed = capsys.readouterr()
    assert "TRAINED on" in printed.err and "not a test" in printed.out
    assert cli.main(["-q", "query", "make a fist", "--model", "myo-armband", "--data", str(renamed)]) == 0
    assert "TRAINED on" in capsys.readouterr().err
    unseen = data_dir / "myodisco" / "S11_day1.mat"  # subject 11: held out of the shipped model
    assert cli.main(["-q", "query", "make a fist", "--model", "myo-armband", "--data", str(unseen)]) == 0
    assert "TRAINED on" not in capsys.readouterr().err


def _tampered_model(tmp_path: Path, change) -> Path:
    import shutil

    from myosem_rt.model import SHIPPED

    out = tmp_path / "model"
    shutil.copytree(SHIPPED["myo-armband"], out)
    manifest = json.loads((out / "manifest.json").read_text())
    change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("change, message", [
    (lambda m: m["files"].update({"../../etc/hostname": {"sha256": "0" * 64}}), "outside the model"),
    (lambda m: m["files"].update({"/etc/hostname": {"sha256": "0" * 64}}), "outside the model"),
    (lambda m: m["files"].update({"encoder.onnx": "abc"}), "must be an object with its sha256"),
    (lambda m: m.update(fs="fast"), "'fs' must be a positive float"),
    (lambda m: m.update(window="long"), "'window' must be a positive int"),
    (lambda m: m.update(window=40.5), "'window' must be a positive int"),
], ids=["dotdot", "absolute", "entry-string", "fs-word", "window-word", "window-fraction"])
def test_tampered_model_manifest_is_one_line_and_reads_nothing_outside(tmp_path: Path, change,
                                                                        message: str) -> None:
    """Items 9 and 10: a manifest naming files outside its directory, or with words for numbers."""
    from myosem_rt.model import ModelError, MyoSemModel

    path = _tampered_model(tmp_path, change)
    with pytest.raises(ModelError, match=message) as err:
        MyoSemModel.load(path)
    assert "\n" not in str(err.value)


def test_complex_valued_emg_is_refused(tmp_path: Path) -> None:
    """Item 10: complex samples were silently truncated to their real part."""
    import scipy.io

    from myosem_rt.errors import RecordingError
    from myosem_rt.recordings import load_session

    path = tmp_path / "c.mat"
    (tmp_path / "labels.json").write_text(json.dumps({"classes": {"0": "rest"}}))
    scipy.io.savemat(path, {"emg": np.ones((50, 2)) * (1 + 2j), "stimulus": np.zeros((50, 1)),
                            "repetition": np.ones((50, 1)), "frequency": 100.0, "dataset": "X"})
    with pytest.raises(RecordingError, match="complex-valued"):
        load_session(path)


@pytest.mark.realdata
def test_info_on_a_folder_lists_the_good_recordings_and_names_the_bad_one(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Item 13: ``info FOLDER`` went on to stop at the first bad file."""
    import shutil

    for name in ("S8_shift4.mat", "labels.json"):
        shutil.copy(data_dir / "ciil_shift" / name, tmp_path / name)
    (tmp_path / "A_broken.mat").write_bytes(b"not a mat file")
    assert cli.main(["-q", "info", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "A_broken.mat: UNREADABLE" in out and "S8_shift4.mat: CIIL_ElectrodeShift subject 8" in out
    assert len(err.strip().splitlines()) == 1 and "1 of 2 recordings unreadable" in err


def test_unknown_model_name_lists_the_shipped_ones_and_models_describes_them(
        capsys: pytest.CaptureFixture) -> None:
    """Item 13: a mistyped --model names the shipped models; ``myosem models`` lists them."""
    from myosem_rt.model import SHIPPED

    assert cli.main(["-q", "bench", "model", "--model", "3dc-armbnd"]) == 2
    err = capsys.readouterr().err
    assert "no such model" in err and all(name in err for name in SHIPPED)
    assert cli.main(["-q", "models"]) == 0
    out = capsys.readouterr().out
    assert "3dc-armband" in out and "10 ch @ 1000 Hz" in out and "8 ch @ 200 Hz" in out
    assert "held out  3dc: S18" in out and "Pinch Grip" in out


def test_a_small_file_declaring_a_huge_emg_is_refused_before_loading(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 8: the header's declared shapes are checked against the machine's memory before any load."""
    import scipy.io

    from myosem_rt.errors import RecordingError
    from myosem_rt.recordings import load_session, reader

    path = tmp_path / "big.mat"
    (tmp_path / "labels.json").write_text(json.dumps({"classes": {"0": "rest"}}))
    # 2 M x 10 int16 zeros compress to a few kB; pretend the machine has 64 MiB
    scipy.io.savemat(path, {"emg": np.zeros((2_000_000, 10), np.int16), "stimulus": np.zeros((2_000_000, 1)),
                            "repetition": np.ones((2_000_000, 1)), "frequency": 1000.0, "dataset": "X"},
                     do_compression=True)
    assert path.stat().st_size < 2_000_000
    monkeypatch.setattr(reader, "_physical_memory", lambda: 64.0 * 2**20)
    loaded = []
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: loaded.append(1))
    with pytest.raises(RecordingError, match=r"declares arrays of .* GiB to load \('emg' 2000000 x 10\)"):
        load_session(path)
    assert not loaded  # refused from the header alone


@pytest.mark.lsl
def test_an_absurd_stream_header_is_refused_before_buffers_are_allocated() -> None:
    """Item 8: a 1e9 Hz (or 100 000-channel) header would size buffers of terabytes."""
    import pylsl

    from myosem_rt.errors import StreamError
    from myosem_rt.stream.inlet import check_emg_stream

    for channels, rate in ((8, 1e9), (100_000, 200.0)):
        info = pylsl.StreamInfo("absurd", "EMG", channels, rate, pylsl.cf_float32, "absurd")
        with pytest.raises(StreamError, match="beyond what this runtime buffers"):
            check_emg_stream(info)
    check_emg_stream(pylsl.StreamInfo("fine", "EMG", 16, 2048.0, pylsl.cf_float32, "fine"))


@pytest.mark.parametrize("field, value, message", [
    ("frequency", "fast", "'frequency' must be a number, got 'fast'"),
    ("frequency", np.zeros((0, 0)), "'frequency' must be one number, got 0 values"),
    ("emg_scale", "big", "'emg_scale' must be a number"),
    ("emg_scale", np.zeros((0, 0)), "'emg_scale' must be one number"),
    ("subject", "bob", "'subject' must be a number"),
    ("subject", 2.5, "'subject' must be a whole number"),
])
def test_scalar_fields_of_the_wrong_kind_are_one_line(tmp_path: Path, field: str, value,
                                                      message: str, capsys: pytest.CaptureFixture) -> None:
    """Item 9: text or empty where a recording needs a number used to be a traceback."""
    import scipy.io

    (tmp_path / "labels.json").write_text(json.dumps({"classes": {"0": "rest"}}))
    fields = {"emg": np.ones((50, 2), np.int16), "stimulus": np.zeros((50, 1)),
              "repetition": np.ones((50, 1)), "frequency": 100.0, "dataset": "X", field: value}
    scipy.io.savemat(tmp_path / "r.mat", fields)
    assert cli.main(["-q", "info", str(tmp_path / "r.mat")]) == 2
    assert message in _one_line(capsys)


@pytest.mark.parametrize("section, entry, message", [
    ("live", {"min_margin": "high"}, "config key 'live.min_margin' must be a number, got 'high'"),
    ("gui", {"fps": "thirty"}, "config key 'gui.fps' must be a number, got 'thirty'"),
    ("stream", {"dejitter": "yes"}, "config key 'stream.dejitter' must be true or false"),
])
def test_config_values_of_the_wrong_type_name_the_config_key(
        tmp_path: Path, section: str, entry: dict, message: str, capsys: pytest.CaptureFixture) -> None:
    """Item 9: wrong-typed config values are refused when the file is read, naming the key."""
    cfg = tmp_path / "my.yaml"
    cfg.write_text(json.dumps({section: entry}))
    assert cli.main(["-q", "--config", str(cfg), "models"]) == 2
    assert message in _one_line(capsys)


def test_gui_without_a_display_says_what_to_use_instead(tmp_path: Path) -> None:
    """Item 11: Qt aborted the process (exit 134) when there was no display."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, "-m", "myosem_rt.cli", "gui", "--name", "nobody"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    err = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(err) == 1, out.stderr
    assert "no display" in err[0] and "myosem live" in err[0]


def test_the_default_synthetic_armband_fits_a_shipped_model() -> None:
    """Item 12: ``myosem simulate`` then ``myosem live`` failed with "no shipped model" (8 ch @ 1 kHz)."""
    from myosem_rt.config import default_config
    from myosem_rt.model import model_for_stream

    sim = default_config()["simulate"]
    assert model_for_stream(int(sim["n_channels"]), float(sim["fs"])).name == "3dc-armband"


@pytest.mark.lsl
def test_what_an_outlet_binds_is_what_the_readme_says() -> None:
    """Item 6: discovery is machine-local, but liblsl binds the outlet's TCP data server on 0.0.0.0 (no
    configuration restricts it). Read from /proc: if a liblsl update binds loopback only, this fails and
    the README's "Privacy and network" must be updated."""
    import os

    import pylsl

    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp")

    def inodes() -> set[str]:
        out = set()
        for fd in Path(f"/proc/{os.getpid()}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
        return out

    def listening(table: str, state: str | None) -> set[tuple[str, int]]:
        mine, found = inodes(), set()
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] in mine and (state is None or cols[3] == state):
                address, port = cols[1].split(":")
                ip = ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
                found.add((ip, int(port, 16)))
        return found

    before = listening("/proc/net/tcp", "0A")
    info = pylsl.StreamInfo("bind-check", "EMG", 1, 100.0, pylsl.cf_float32, "bind-check")
    outlet = pylsl.StreamOutlet(info)
    try:
        new = listening("/proc/net/tcp", "0A") - before
        assert new and all(ip == "0.0.0.0" and 16572 <= port < 16572 + 200 for ip, port in new), new
        udp = listening("/proc/net/udp", None)
        assert any(ip == "0.0.0.0" for ip, _ in udp)  # the time server, also on every interface
    finally:
        del outlet
    from myosem_rt.commands.streams import EXPOSURE

    assert "all IPv4 interfaces" in EXPOSURE


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(60)
def test_the_ground_truth_is_named_as_the_model_names_its_predictions(data_dir: Path) -> None:
    """Item 14: a MyoDisCo replay showed ``z_rest`` / ``extension`` as truth beside ``rest`` /
    ``wrist_extension`` predictions; CIIL numbers its classes differently again. Given the model, the truth
    is in the model's ids and names (by shared action)."""
    import pylsl

    from devices.replay import ReplayDevice
    from myosem_rt.live.truth import GroundTruth, model_naming
    from myosem_rt.model import MyoSemModel
    from myosem_rt.recordings import load_session
    from tests.lsl_helpers import unique_name

    model = MyoSemModel.load("myo-armband")
    names = dict(zip(model.class_ids, model.class_names, strict=True))
    myodisco = model_naming(model, "MyoDisCo")
    assert myodisco[0] == (0, names[0]) and names[0] != "z_rest" and myodisco[2][1] == "wrist_extension"
    ciil = load_session(data_dir / "ciil_shift" / "S8_shift4.mat")
    by_name = {ciil.class_name(c): c for c in ciil.classes}
    ciil_map = model_naming(model, ciil.dataset)
    assert ciil_map[by_name["Hand_Close"]][1] == "hand_close"
    assert ciil_map[by_name["No_Motion"]][1] == names[0]
    assert ciil_map[by_name["Hand_Close"]][0] != by_name["Hand_Close"]  # CIIL's ids are not the model's
    session = load_session(data_dir / "myodisco" / "S11_day1.mat")
    device = ReplayDevice(session, name=unique_name("naming"), speed=20.0, wait_for_consumer=20.0)
    device.linger_s = 10.0
    device.start()
    try:
        assert device.ready.wait(10.0)
        inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", device.spec.marker_name, 1, 10.0)[0])
        truth = GroundTruth(inlet, model)
        emg = pylsl.StreamInlet(pylsl.resolve_byprop("name", device.spec.name, 1, 10.0)[0])
        emg.open_stream(timeout=10.0)  # the replay starts when its consumer connects
        deadline = time.monotonic() + 20.0
        while len(truth.names) < 3 and time.monotonic() < deadline:
            emg.pull_chunk(timeout=0.1)
            truth.pull()
        emg.close_stream()
        truth.close()
    finally:
        device.stop()
    assert len(truth.names) >= 3
    assert all(names[i] == n for i, n in truth.names.items()), truth.names
    assert "z_rest" not in truth.names.values()


def test_terminal_view_says_what_every_shown_label_means() -> None:
    """Item 14: live's terminal view printed the description only when the shown (smoothed) label was
    also the hop's raw top-1."""
    import io

    from myosem_rt.live.engine import Result
    from myosem_rt.live.outputs import TerminalView

    out = io.StringIO()
    meanings = {1: "Closing the hand into a fist.", 2: "Opening it."}
    view = TerminalView(out, period_s=1e9, descriptions=meanings)
    topk = [{"id": 2, "name": "open", "text": "Opening it.", "score": 0.6},
            {"id": 1, "name": "fist", "text": "Closing the hand into a fist.", "score": 0.5}]
    for label, ident in (("fist", 1), ("open", 2)):  # shown label 'fist' while the raw top-1 is 'open'
        view.publish(Result(0, 0, 0.0, np.zeros(2), topk, label, ident, 0.55))
    lines = out.getvalue().splitlines()
    assert "-> fist" in lines[0] and "Closing the hand into a fist." in lines[0]
    assert "-> open" in lines[1] and "Opening it." in lines[1]


@pytest.mark.realdata
def test_eval_over_a_folder_shows_a_progress_bar_on_a_terminal(data_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 15: eval over a folder of recordings showed nothing for minutes."""
    import io
    import shutil

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for name in ("S8_shift3.mat", "S8_shift4.mat", "labels.json"):
        shutil.copy(data_dir / "ciil_shift" / name, tmp_path / name)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert cli.main(["-q", "eval", "--model", "myo-armband", "--data", str(tmp_path), "--bootstrap", "2",
                     "--episodes", "2"]) == 0
    assert "eval: 100%" in err.getvalue() and "2/2" in err.getvalue()


@pytest.mark.realdata
def test_calibrate_eval_prints_figures_not_a_python_dict(data_dir: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """Item 15: its per-file line printed ``{'1': 0.617}``."""
    assert cli.main(["calibrate-eval", "--model", "myo-armband", "--data", str(data_dir), "--protocol",
                     "ciil-shift", "--subjects", "8", "--k", "1", "--repeats", "1"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "eval windows" in line]
    assert lines and all("{" not in line and "k=1 " in line for line in lines), lines


def test_the_report_suite_says_where_it_stands(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Item 15: ``myosem report --train`` runs hours of jobs; each start now says [i/N] and the time left."""
    import logging

    from train.suite import Job, run_jobs

    jobs = [Job("text", f"j{i}", "3dc-rand", ("-c", "import time; time.sleep(0.05)"), tmp_path / f"j{i}")
            for i in range(3)]
    with caplog.at_level(logging.INFO, logger="train.suite"):
        assert run_jobs(jobs, tmp_path, tmp_path, nice=0) == 0
    starts = [r.getMessage() for r in caplog.records if "python -c" in r.getMessage()]
    assert [m.split("]")[0] for m in starts] == ["[1/3", "[2/3", "[3/3"]
    assert "min left" not in starts[0] and "min left" in starts[1]


@pytest.mark.lsl
@pytest.mark.realdata
@pytest.mark.timeout(90)
def test_soak_benchmark_prints_hops_gaps_memory_and_latency(data_dir: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Must show: the soak figures come from a command (``myosem bench soak``), here for a few seconds."""
    assert cli.main(["-q", "bench", "soak", "--model", "myo-armband", "--data",
                     str(data_dir / "ciil_shift" / "S8_shift4.mat"), "--minutes", "0.1", "--speed", "4"]) == 0
    out = capsys.readouterr().out
    hops = int(out.split("hops ")[1].split(",")[0])
    assert hops > 20 and "gaps 0 (0 samples lost)" in out and "growth" in out and "p99" in out, out


def test_channel_labels_stay_apart_on_many_channel_streams() -> None:
    """Item 14: every channel got a label (64 overlapped), and a 1-channel strip labelled it twice."""
    pytest.importorskip("pyqtgraph")
    from myosem_rt.display.window import MAX_CHANNEL_LABELS, channel_ticks

    assert channel_ticks(10) == list(range(10))
    for n in (17, 32, 64, 128):
        ticks = channel_ticks(n)
        assert len(ticks) <= MAX_CHANNEL_LABELS + 1 and ticks[0] == 0 and ticks[-1] == n - 1
    assert channel_ticks(1) == [0]
