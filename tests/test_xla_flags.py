"""Config XLA flags: added to XLA_FLAGS before the backend starts, never over the user's own setting."""

import jax
import pytest

from recovery_jax.xla_flags import add_xla_flags


def test_config_flags_join_the_users_and_the_user_wins(monkeypatch):
    monkeypatch.setattr("jax._src.xla_bridge.backends_are_initialized", lambda: False)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=true"}
    flags = add_xla_flags("--xla_cpu_multi_thread_eigen=false --xla_cpu_use_xnnpack=false", env)
    assert flags.split() == ["--xla_force_host_platform_device_count=2", "--xla_cpu_multi_thread_eigen=true",
                             "--xla_cpu_use_xnnpack=false"]
    assert add_xla_flags("--xla_cpu_multi_thread_eigen=false", empty := {}) == "--xla_cpu_multi_thread_eigen=false"
    assert empty == {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    assert add_xla_flags("", untouched := {}) == "" and untouched == {}


def test_flags_after_the_backend_started_are_an_error_not_ignored():
    jax.devices()
    with pytest.raises(RuntimeError, match="xla_cpu_multi_thread_eigen.*too late"):
        add_xla_flags("--xla_cpu_multi_thread_eigen=false", {})
    assert add_xla_flags("--xla_cpu_multi_thread_eigen=false",
                         {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"}) == "--xla_cpu_multi_thread_eigen=true"
