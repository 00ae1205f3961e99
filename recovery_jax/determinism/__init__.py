"""Run-to-run and cross-framework (JAX vs PyTorch) determinism of wav2vec2 forward passes and training.

`compare` holds the difference measures (bitwise, max abs, ulp), `jax_side` / `torch_side` the two frameworks
behind one interface, `runs` the run-to-run checks, `frameworks` the JAX-vs-PyTorch checks, `settings` the
knobs that govern determinism (each timed in its own child process), `report` the Markdown/JSON output.
"""
