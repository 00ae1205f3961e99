"""Run the whole study (paper Fig. 2, Tables I-III, Figures 3-4, CKA, layer-wise probes) from absl flags.

    python -m launch.study                                     # embedded corpus, default size
    python -m launch.study --config configs/study_real.py --config.corpus.name=iemocap \
        --config.corpus.root=/data/IEMOCAP_full_release --config.checkpoints.PT=/models/wav2vec2-base ...
Stages are cached by content under --workdir: rerun the same command after a crash to continue.
"""

import os

from absl import flags, logging

from . import cli

_CONFIG = cli.define_config("configs/study_embedded.py", "A configs/study_*.py file.")
_WORKDIR = flags.DEFINE_string("workdir", "workdirs/study_embedded", "Stages, caches and results/ go here.")


def main(argv):
    del argv
    from recovery_jax import compile_cache
    from recovery_jax.study.study import run_study
    from recovery_jax.xla_flags import add_xla_flags
    from .logs import quiet_orbax

    add_xla_flags(_CONFIG.value.get("xla_flags", ""))
    quiet_orbax()
    workdir = os.path.abspath(_WORKDIR.value)
    compile_cache.enable(os.path.join(workdir, "jax_cache"))
    try:
        summary = run_study(_CONFIG.value, workdir)
    except KeyboardInterrupt:
        # Training jobs run on threads, which Ctrl-C cannot stop; checkpoints and stage markers are written
        # atomically, so exiting here loses only each running job's steps since its last checkpoint.
        logging.warning("interrupted: rerun the same command to continue from the finished stages and checkpoints")
        logging.flush()
        os._exit(130)
    logging.info("report: %s", os.path.join(workdir, "results", "report.md"))
    del summary


if __name__ == "__main__":
    cli.run(main)
