"""The installed package, as a user gets it (the `installed` fixture in conftest.py); its quick study is the rerun
half of tests/test_study.py's end-to-end test."""

from conftest import run_installed


def test_installed_help_lists_flags_and_shipped_configs(installed):
    result = run_installed(installed, "train", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in ("--config", "--workdir", "--[no]distributed", "--[no]verbose"):
        assert flag in result.stdout
    shipped = result.stdout.split("Shipped config files", 1)[1].split()
    assert {"ser.py", "ctc.py", "pretrain.py", "study_embedded.py", "study_real.py"} <= set(shipped)
    launchers = run_installed(installed, "--help").stdout
    assert all(name in launchers for name in ("train", "study", "select_ser", "compare", "determinism"))
    bad = run_installed(installed, "train", "--config", "ser.py:quick", "--workdir", "W", "--config.optim.lrr=1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "close matches: lr" in bad.stderr
