"""orbax checkpoints of the (host-side) train state: save every N steps, keep K, resume the latest.

orbax writes each step to a temporary folder and renames it when complete, so a run killed mid-save
resumes from the previous whole checkpoint.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import orbax.checkpoint as ocp


def manager(workdir: str | os.PathLike, every: int, keep: int) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every, create=True)
    return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)


def save(mgr: ocp.CheckpointManager, step: int, state: Any, force: bool = False) -> bool:
    return mgr.save(step, args=ocp.args.StandardSave(state), force=force)


def restore_latest(mgr: ocp.CheckpointManager, target: Any) -> tuple[Optional[int], Any]:
    """(step, state) of the newest checkpoint, or (None, target) when there is none."""
    step = mgr.latest_step()
    if step is None:
        return None, target
    return step, mgr.restore(step, args=ocp.args.StandardRestore(target))
