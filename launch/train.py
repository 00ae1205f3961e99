"""Fine-tune wav2vec2 (SER or CTC) from absl flags; a thin shell over `train.train_and_evaluate`.

    python -m launch.train --config configs/ser.py --workdir workdirs/ser_fold1 \
        --config.init=/models/wav2vec2-base --config.corpus.test_session=1 --config.optim.lr=1e-5
Multi-host (TPU pod / several machines): add --distributed on every process (see launch/tpu_pod.sh).
"""

import os

from absl import flags, logging

from . import cli

_CONFIG = cli.define_config(None, "A configs/*.py file (file.py:arg allowed).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, metrics.jsonl, results.json and hf/ go here.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first.")
_COORDINATOR = flags.DEFINE_string("coordinator", None, "host:port of process 0 (omit on TPU pods).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the job (omit on TPU pods).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index (omit on TPU pods).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    import jax

    from .logs import quiet_orbax
    from recovery_jax import compile_cache
    from recovery_jax.train import distributed

    quiet_orbax()
    if _DISTRIBUTED.value:
        distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    from recovery_jax.train.train import train_and_evaluate  # after initialize: no backend touched before it

    logging.info("process %d/%d, %d local / %d global devices", jax.process_index(), jax.process_count(),
                 jax.local_device_count(), jax.device_count())
    workdir = os.path.abspath(_WORKDIR.value)
    compile_cache.enable(os.path.join(workdir, "jax_cache"))  # a resumed run skips its compiles
    train_and_evaluate(_CONFIG.value, workdir)


if __name__ == "__main__":
    cli.run(main)
