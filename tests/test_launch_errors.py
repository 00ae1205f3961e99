"""Every launcher ends bad flags and the project's own errors in one `error: ...` line, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_data_readers import _iemocap

ROOT = Path(__file__).resolve().parent.parent


def _launch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


@pytest.mark.parametrize("launcher,config,section,flags", [
    ("launch.train", "ser.py:quick", "", ["--workdir", "W"]),
    ("launch.study", "study_embedded.py:quick", "ser.", []),
    ("launch.compare", "compare.py:quick", "", ["--systems", "A=x,B=y"]),
    ("launch.determinism", "determinism.py:quick", "", ["--out", "W"])])
def test_every_launcher_names_an_unknown_config_key_and_its_close_matches(launcher, config, section, flags,
                                                                          tmp_path):
    result = _launch(launcher, "--config", config, *flags, f"--config.{section}batch_sise=1", cwd=tmp_path)
    line = _error_line(result)
    assert line.startswith(f"error: unknown config key (--config.{section}batch_sise): no key 'batch_sise' in "
                           f"config{'.' + section[:-1] if section else ''}; close matches: batch_size")
    assert result.returncode == 2


def test_nested_unknown_key_and_unknown_flag(tmp_path):
    line = _error_line(_launch("launch.train", "--config", "configs/ser.py:quick", "--workdir", str(tmp_path),
                               "--config.optim.lrr=1"))
    assert line == "error: unknown config key (--config.optim.lrr): no key 'lrr' in config.optim; close matches: lr"
    assert _error_line(_launch("launch.train", "--config", "ser.py", "--workdir", "W", "--bogus")).startswith(
        "error: bad flag (--bogus): ")
    assert "(nope.py)" in _error_line(_launch("launch.train", "--config", "nope.py", "--workdir", "W"))


def test_missing_init_folder_one_line_unless_verbose(tmp_path):
    args = ("launch.train", "--config", "configs/ser.py:quick", "--workdir", str(tmp_path / "w"),
            f"--config.init={tmp_path / 'no_model'}")
    line = _error_line(_launch(*args))
    assert line.startswith(f"error: no such folder (--config.init={tmp_path / 'no_model'}): expected an HF")
    verbose = _launch(*args, "--verbose")
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_missing_corpus_root_for_study_and_train(tmp_path):
    missing = tmp_path / "IEMOCAP_full_release"
    study = _launch("launch.study", "--config", "configs/study_real.py", "--workdir", str(tmp_path / "s"),
                    "--config.corpus.name=iemocap", f"--config.corpus.root={missing}")
    train = _launch("launch.train", "--config", "configs/ser.py:quick", "--workdir", str(tmp_path / "t"),
                    "--config.corpus.name=iemocap", f"--config.corpus.root={missing}")
    for result in (study, train):
        assert _error_line(result) == (f"error: no such directory (--config.corpus.root={missing}): expected the "
                                       f"iemocap release root")


def test_text_file_saved_as_wav(tmp_path):
    _iemocap(tmp_path)
    wav = tmp_path / "IEMOCAP_full_release/Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F000.wav"
    wav.write_text("not audio\n")
    line = _error_line(_launch("launch.train", "--config", "configs/ser.py:quick", "--workdir", str(tmp_path / "t"),
                               "--config.corpus.name=iemocap", f"--config.corpus.root={tmp_path}"))
    assert line.startswith("error: corrupt or unreadable") and line.endswith(
        f"({wav}): expected a WAV/FLAC file libsndfile can decode")
