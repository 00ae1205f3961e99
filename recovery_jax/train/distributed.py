"""Joining a multi-process JAX job: TPU pod workers, or CPU processes on one or several hosts."""

from __future__ import annotations

from typing import Optional

import jax


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> None:
    """`jax.distributed.initialize`; on a TPU pod leave all three None (read from the TPU metadata).

    Must run before anything touches a JAX backend.
    """
    # The step's psum across CPU processes needs a cross-process CPU collective; TPU/GPU ignore this.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
