"""XLA flags that a config asks for, set before JAX's backend starts: XLA reads XLA_FLAGS once, then."""

from __future__ import annotations

import os
from typing import MutableMapping


def add_xla_flags(flags: str, environ: MutableMapping[str, str] = os.environ) -> str:
    """Adds each `--name=value` of `flags` to XLA_FLAGS unless the user's XLA_FLAGS set `--name` already (the
    user's choice wins); returns the XLA_FLAGS now in force. Raises if the backend has started already."""
    from jax._src import xla_bridge

    user = environ.get("XLA_FLAGS", "")
    user_names = {flag.split("=", 1)[0] for flag in user.split()}
    added = [flag for flag in flags.split() if flag.split("=", 1)[0] not in user_names]
    if added and xla_bridge.backends_are_initialized():
        raise RuntimeError(f"XLA flags {added} come too late: JAX's backend has started and read XLA_FLAGS")
    if added:
        environ["XLA_FLAGS"] = " ".join(filter(None, [user, *added]))
    return environ.get("XLA_FLAGS", "")
