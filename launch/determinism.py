"""Determinism report (run to run, JAX vs PyTorch, governing settings) as report.md + report.json.

    python -m launch.determinism --config configs/determinism.py --out reports/determinism \
        [--config.checkpoint=/path/to/hf_folder] [--config.steps=8]
Runs on whatever the frameworks pick: GPU when jax.devices() / torch.cuda.is_available() offer one, else CPU.
"""

import os

from absl import flags, logging

from . import cli

_CONFIG = cli.define_config(None, "configs/determinism.py (file.py:quick allowed).")
_OUT = flags.DEFINE_string("out", None, "report.md, report.json, the settings' outputs (and any built "
                           "checkpoint) go here.")
flags.mark_flags_as_required(["config", "out"])


def main(argv):
    del argv
    from recovery_jax.determinism import report

    out = os.path.abspath(_OUT.value)
    result = report.collect(_CONFIG.value, out)
    json_path, md_path = report.write(result, out)
    print(report.to_markdown(result))
    logging.info("wrote %s and %s", md_path, json_path)


if __name__ == "__main__":
    cli.run(main)
