"""Where R runs live: stacking their trees, splitting off what they share, and laying them out on devices.

Two placements, chosen by `config.run_placement`:
- "data": every device holds all R runs and a slice of each run's batch (data parallel, gradients summed
  over devices), as a single fine-tune runs today.
- "runs": R is a multiple of the global device count G; device g trains runs [g R/G, (g+1) R/G) on whole
  batches, with no gradient traffic. Across processes, each process holds its own devices' runs.
Host trees always carry the leading run axis (R, ...); device trees are (local devices, runs per device, ...).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import numpy as np
from flax import traverse_util
from jax.experimental import multihost_utils

from recovery_jax.train.step import to_local_devices

PLACEMENTS = ("data", "runs")


def stack(trees: Sequence[Any]) -> Any:
    if len(trees) == 1:  # a view: one base model's params are 360 MB
        return jax.tree.map(lambda x: np.asarray(x)[None], trees[0])
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def unstack(tree: Any, runs: int) -> list[Any]:
    return [jax.tree.map(lambda x: x[r], tree) for r in range(runs)]


def split_shared(trees: Sequence[Any], prefixes: Sequence[str]) -> tuple[dict, list[dict]]:
    """(shared, own trees): leaves under a frozen prefix that are equal in every run are shared once;
    everything else stays with its run."""
    flats = [traverse_util.flatten_dict(t, sep="/") for t in trees]
    shared = {path: leaf for path, leaf in flats[0].items()
              if any(path.startswith(p) for p in prefixes)
              and all(np.array_equal(leaf, f[path]) for f in flats[1:])}
    own = [traverse_util.unflatten_dict({p: v for p, v in f.items() if p not in shared}, sep="/") for f in flats]
    return traverse_util.unflatten_dict(shared, sep="/"), own


@dataclasses.dataclass(frozen=True)
class Layout:
    runs: int
    placement: str = "data"

    def __post_init__(self):
        if self.placement not in PLACEMENTS:
            raise ValueError(f"config.run_placement={self.placement!r}: expected one of {PLACEMENTS}")
        if self.placement == "runs" and self.runs % jax.device_count():
            raise ValueError(f"config.run_placement='runs' needs the number of runs ({self.runs}) to be a multiple "
                             f"of the device count ({jax.device_count()}); use 'data'")

    @property
    def data_parallel(self) -> bool:
        return self.placement == "data"

    @property
    def runs_per_device(self) -> int:
        return self.runs if self.data_parallel else self.runs // jax.device_count()

    def local_runs(self) -> np.ndarray:
        """(local devices, runs per device): the global index of each run slot on this process's devices."""
        local = jax.local_device_count()
        if self.data_parallel:
            return np.tile(np.arange(self.runs), (local, 1))
        first = jax.process_index() * local * self.runs_per_device
        return first + np.arange(local * self.runs_per_device).reshape(local, self.runs_per_device)

    def to_devices(self, host_tree: Any) -> Any:
        """Host leaves (R, ...) -> this process's device slots (local devices, runs per device, ...)."""
        slots = self.local_runs()
        in_order = slots.size == self.runs and (slots.reshape(-1) == np.arange(self.runs)).all()
        # In run order the slots are a reshape (a view), not a gathered host copy.
        return to_local_devices(jax.tree.map(
            lambda x: np.asarray(x).reshape(slots.shape + np.shape(x)[1:]) if in_order else np.asarray(x)[slots],
            host_tree))

    def to_host(self, device_tree: Any) -> Any:
        """Device leaves (local devices, runs per device, ...) -> numpy (R, ...), every run on every process.

        A copy, not a view: the host tree outlives these buffers, which the next step donates.
        """
        if self.data_parallel:
            return jax.tree.map(lambda x: np.array(x.addressable_data(0)).reshape(x.shape[1:]), device_tree)
        local = jax.tree.map(np.asarray, device_tree)
        if jax.process_count() > 1:
            local = multihost_utils.process_allgather(local, tiled=True)
        return jax.tree.map(lambda x: np.array(x).reshape((self.runs,) + x.shape[2:]), local)
