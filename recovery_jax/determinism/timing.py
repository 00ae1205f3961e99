"""Child process of `settings.measure`: one setting, one framework, a fresh backend.

    python -m recovery_jax.determinism.timing '{"setting": ..., "folder": ..., "audio": ..., "repeats": ...,
                                                "out": ...}'
Prints one JSON line: device, first-call and median seconds, and whether two calls agreed bitwise.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

import numpy as np

from recovery_jax.determinism.compare import Diff, diff_named
from recovery_jax.determinism.settings import SETTINGS, apply_in_process


def main(spec: dict) -> dict:
    setting = SETTINGS[spec["setting"]]
    apply_in_process(setting)
    side = importlib.import_module(f"recovery_jax.determinism.{setting.framework}_side")
    from benchmarks.common import median_seconds

    compute = {"compute": setting.compute} if setting.compute else {}
    run = side.forward_runner(spec["folder"], np.load(spec["audio"]), **compute)
    start = time.perf_counter()
    first = run()
    first_s = time.perf_counter() - start
    repeatable = Diff.merge(diff_named(first, run()).values()).bitwise_equal
    np.save(spec["out"], first["last_hidden_state"])
    return {"device": side.device(), "first_call_s": first_s,
            "median_s": median_seconds(run, spec["repeats"], warmup=0), "repeatable": repeatable}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
