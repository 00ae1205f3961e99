"""Known silent-wrong-result and crash bugs of XLA:CPU, run in this environment's own jax.

jaxlib 0.10.2 returns a wrong jitted vmap+sum (jax issue 39103) and segfaults on a rank-7 reduce with a
size-1 dimension (jax issue 40412); the YNNPACK fusion also crashes on rank-8 broadcast-multiply-reduce
(jax issue 39257). Our analyses are vmap-over-systems-then-reduce programs, so each reproducer runs in a fresh
interpreter (a crash must fail the test, not kill the suite), with the package's XLA defaults applied.
"""

import os
import subprocess
import sys
import textwrap

import pytest

PRELUDE = "import recovery_jax, jax, jax.numpy as jnp, numpy as np\n"

REPRODUCERS = {
    "39103_vmap_matvec_sum": """
        i = jnp.arange(32_769, dtype=jnp.float32)
        x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
        m = jnp.eye(3, dtype=jnp.float32)
        f = lambda x: jax.vmap(lambda row: jnp.sum((m @ row) ** 2))(x)
        eager, jitted = float(f(x)[-1]), float(jax.jit(f)(x)[-1])
        assert eager == jitted == 32_768.0 ** 2, (eager, jitted)
    """,
    "40412_rank7_reduce": """
        S = (3, 1, 2, 2, 8, 8, 8)
        u = jax.random.normal(jax.random.PRNGKey(0), S, dtype=jnp.float32)
        v = jax.random.normal(jax.random.PRNGKey(1), S, dtype=jnp.float32)
        got = np.asarray(jax.jit(lambda a, b: jnp.sum(a * b, axis=3))(u, v))
        want = (np.asarray(u, np.float64) * np.asarray(v, np.float64)).sum(axis=3)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    """,
    "39257_rank8_broadcast_reduce": """
        obs = jnp.ones((10, 4, 6), jnp.float32)
        A = jnp.ones((10, 4, 6, 9, 9, 9, 9, 9), jnp.float32)
        f = lambda o, a: jnp.log(jnp.maximum(jnp.sum(o[..., None, None, None, None, None] * a, axis=2), 1e-16))
        got = np.asarray(jax.jit(f)(obs, A))
        np.testing.assert_allclose(got, np.log(6.0), rtol=1e-6)
    """,
}


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_xla_cpu_reproducer(name):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # the package's own CPU defaults, as a user gets them
    code = PRELUDE + textwrap.dedent(REPRODUCERS[name])
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: hung for 120 s (jax issue 39257 hangs on some CPUs)")
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
