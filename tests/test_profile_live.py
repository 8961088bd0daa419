"""``myosem live`` with the wearer's profile on an armband no shipped model fits (MultiDay, 4 ch @ 2048 Hz):
a device-only profile enrolled on day 1 describes a later day streamed over LSL; without a profile live
says how to enrol and keeps monitoring the stream; a stream of another shape is refused in one line."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from devices.replay import ReplayDevice
from myosem_rt import cli
from myosem_rt.config import load_config
from myosem_rt.recordings import load_session
from tests.lsl_helpers import unique_name

pytestmark = [pytest.mark.lsl, pytest.mark.realdata]


@pytest.fixture(scope="module")
def multiday_profile(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from myosem_rt.profile.enrol import enrol_from_session

    profile, _ = enrol_from_session(load_session(data_dir / "multiday" / "S1_D1.mat"), load_config(None),
                                    trials=1, user="md")
    path = tmp_path_factory.mktemp("profiles") / "md"
    profile.save(path)
    return path


def _replay(path: Path, name: str, start_s: float, duration_s: float, speed: float = 4.0) -> ReplayDevice:
    dev = ReplayDevice(load_session(path), name=name, speed=speed, start_s=start_s, duration_s=duration_s,
                       wait_for_consumer=15.0)
    dev.start()
    assert dev.ready.wait(10.0)
    return dev


def test_live_with_a_device_only_profile_describes_a_later_day(multiday_profile: Path, data_dir: Path,
                                                                 tmp_path: Path) -> None:
    session = load_session(data_dir / "multiday" / "S1_D4.mat")
    names = {int(c): n for c, n in session.class_names.items()}
    # a stretch covering Wrist Flexion -> Wrist Adduction (classes 2, 3), 4x real time
    start = float(np.flatnonzero(session.label == 2)[0]) / session.fs + 1.0
    name, jsonl = unique_name("live-md"), tmp_path / "md.jsonl"
    dev = _replay(data_dir / "multiday" / "S1_D4.mat", name, start, 10.0)
    try:
        rc = cli.main(["-q", "live", "--name", name, "--profile", str(multiday_profile), "--jsonl",
                       str(jsonl), "--duration", "4", "--results-name", unique_name("md-results")])
    finally:
        dev.stop()
    assert rc == 0
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    assert len(rows) > 20
    profile_names = {c["name"] for c in json.loads(Path(f"{multiday_profile}.json").read_text())["classes"]}
    assert all(e["name"] in profile_names for r in rows for e in r["topk"])
    top = [r["topk"][0]["name"] for r in rows]
    # the streamed stretch is Wrist Flexion, then Wrist Adduction: together they lead the raw top-1
    share = np.mean([t in (names[2], names[3]) for t in top])
    assert share > 0.6, (share, top[:20])
    assert all(0.0 <= e["score"] <= 1.0 for r in rows for e in r["topk"])  # posteriors


def test_live_without_profile_on_an_unknown_armband_says_how_to_enrol(data_dir: Path, capsys) -> None:
    name = unique_name("live-md-none")
    dev = _replay(data_dir / "multiday" / "S1_D4.mat", name, 5.0, 6.0, speed=1.0)
    out: list[int] = []
    try:
        t = threading.Thread(target=lambda: out.append(cli.main(["live", "--name", name, "--duration", "2"])))
        t.start()
        t.join(30.0)
    finally:
        dev.stop()
    assert out == [0]
    got = capsys.readouterr()
    assert "no shipped model fits" in got.err and "myosem enrol --profile" in got.err
    assert "streaming" in got.out  # and it keeps showing the stream's health


def test_profile_of_another_shape_is_refused(multiday_profile: Path, data_dir: Path, capsys) -> None:
    name = unique_name("live-md-3dc")
    dev = _replay(data_dir / "3dc" / "S1_E1_A1.mat", name, 10.0, 5.0, speed=1.0)
    try:
        rc = cli.main(["live", "--name", name, "--profile", str(multiday_profile), "--duration", "1"])
    finally:
        dev.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "10 ch @ 1000 Hz" in err[-1] and "4 ch @ 2048 Hz" in err[-1]
