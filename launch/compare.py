"""Eq. 1 attention distances (all layers and heads) and layer CKA of HF checkpoints against a reference.

    python -m launch.compare --systems=SER=/m/ser,ASR100=/m/asr100,ASR100_SER=/m/asr100_ser \
        [--config configs/compare.py --config.corpus.name=iemocap --config.corpus.root=...] --workdir workdirs/cmp
The first system is the reference; results (figure4.png/.csv, cka_*.png/.csv, summary.json) go to
<workdir>/results. summary.json is written last, so its presence means the run finished.
"""

import os

from absl import app, flags, logging

from . import cli

_CONFIG = cli.define_config("configs/compare.py", "A configs/compare.py file.")
_SYSTEMS = flags.DEFINE_list("systems", None, "NAME=HF_FOLDER,...; the first is the reference.", required=True)
_WORKDIR = flags.DEFINE_string("workdir", "workdirs/compare", "Results go to <workdir>/results.")


def main(argv):
    del argv
    from recovery_jax import compile_cache
    from recovery_jax.study.compare import compare_on_corpus, parse_systems

    try:
        systems = parse_systems(_SYSTEMS.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    workdir = os.path.abspath(_WORKDIR.value)
    compile_cache.enable(os.path.join(workdir, "jax_cache"))
    summary = compare_on_corpus(_CONFIG.value, systems, workdir)
    for pair, mean in summary["attention_distance_mean"].items():
        logging.info("%s: mean Eq. 1 distance over layers and heads %.4g", pair, mean)
    logging.info("results: %s", os.path.join(workdir, "results"))


if __name__ == "__main__":
    cli.run(main)
