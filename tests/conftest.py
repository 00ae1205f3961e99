import os

# Two host devices so pmap/multi-device code paths run on a CPU-only machine.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from recovery_jax import compile_cache  # noqa: E402  (after XLA_FLAGS)

# Default corpus roots live in the user cache (recovery_jax.data.cache.user_cache_dir): tests, and the launchers
# they start, use the checkout's own instead of the user's home.
os.environ["XDG_CACHE_HOME"] = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".test_cache")

# Many tests compile the same train step; share executables across tests and runs.
compile_cache.enable(os.path.join(os.path.dirname(os.path.dirname(__file__)), ".jax_cache"))
