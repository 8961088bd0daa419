"""config.yaml: defaults load, a user file overlays them, typos are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from myosem_rt.cli import main
from myosem_rt.config import DEFAULT_CONFIG_PATH, load_config
from myosem_rt.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_packaged_defaults_are_the_repository_file() -> None:
    assert DEFAULT_CONFIG_PATH.read_text() == (REPO / "config.yaml").read_text()
    cfg = load_config()
    assert {"lsl", "replay", "simulate", "demo", "stream", "filters", "windows", "datasets"} <= set(cfg)


def test_user_file_overlays(tmp_path: Path) -> None:
    user = tmp_path / "my.yaml"
    user.write_text("replay:\n  speed: 4\ndatasets:\n  MyBand: {window_ms: 100, hop_ms: 20, patch_ms: 10}\n")
    cfg = load_config(user)
    assert cfg["replay"]["speed"] == 4 and cfg["replay"]["chunk_ms"] == 20
    assert cfg["datasets"]["MyBand"]["hop_ms"] == 20 and "3DC" in cfg["datasets"]
    assert load_config()["replay"]["speed"] == 1.0  # defaults are not modified by an overlay


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("replay:\n  sped: 4\n", "unknown config key 'replay.sped'"),
        ("replay: 4\n", "'replay' must be a section"),
        ("[1, 2]\n", "expected a mapping"),
        ("replay:\n  speed: [\n", "not valid YAML"),
    ],
)
def test_bad_user_file(tmp_path: Path, text: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    user = tmp_path / "bad.yaml"
    user.write_text(text)
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[")):
        load_config(user)
    assert main(["--config", str(user), "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(user) in err[0] and problem in err[0]


def test_runtime_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, myosem_rt, myosem_rt.cli, myosem_rt.stream.consumer, myosem_rt.recordings.reader, "
        "myosem_rt.descriptors, myosem_rt.vocab; myosem_rt.cli.build_parser(); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'; "
        "import os; print(os.environ['LSLAPICFG'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("myosem_rt/lsl_api.cfg")
