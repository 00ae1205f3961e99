"""Compare SER recipes on nested validation: training sessions only, never a test session.

    python -m launch.select_ser --workdir workdirs/study_embedded --pt_seeds=3 \
        --recipe='lr3e-5=optim.lr=3e-5' --recipe='long=total_steps=200;optim.warmup_steps=20'
Each --recipe is name=overrides of the study config's `ser` section (`;` between key=value pairs). The
config's own recipe runs as "config". Pointing --workdir at a study's reuses its PT stages. Writes
results/selection.md and selection.json (recovery_jax/study/selection.py says how recipes are scored).
"""

import os
from pathlib import Path

from absl import flags, logging

from . import cli

_CONFIG = cli.define_config("configs/study_embedded.py", "A configs/study_*.py file.")
_WORKDIR = flags.DEFINE_string("workdir", "workdirs/select_ser", "Stages, caches and results/ go here.")
_RECIPES = flags.DEFINE_multi_string("recipe", [], "name=overrides of the config's ser section, e.g. "
                                     "'slow=optim.lr=3e-5;total_steps=200'.")
_PT_SEEDS = flags.DEFINE_integer("pt_seeds", 1, "PT draws to start from (embedded corpus).", lower_bound=1)
_SEEDS = flags.DEFINE_integer("seeds", 1, "Fine-tuning seeds per recipe and PT draw.", lower_bound=1)


def recipes(specs: list[str]) -> dict[str, str]:
    out = {"config": ""}
    for spec in specs:
        name, sep, overrides = spec.partition("=")
        if not sep or not name or name in out:
            raise ValueError(f"--recipe={spec!r}: expected a new name=overrides (e.g. slow=optim.lr=3e-5)")
        out[name] = overrides
    return out


def main(argv):
    del argv
    from recovery_jax import compile_cache
    from recovery_jax.study.selection import select_recipes

    workdir = Path(os.path.abspath(_WORKDIR.value))
    compile_cache.enable(str(workdir / "jax_cache"))
    select_recipes(_CONFIG.value, workdir, recipes(_RECIPES.value), _PT_SEEDS.value, _SEEDS.value)
    logging.info("results: %s", workdir / "results" / "selection.md")
    print((workdir / "results" / "selection.md").read_text())


if __name__ == "__main__":
    cli.run(main)
