"""Run-to-run and cross-framework (JAX vs PyTorch) determinism of wav2vec2 forward passes and training.

`compare`: the difference measures (bitwise, max/mean abs, ulps). `inputs`: the checkpoint, batches and Adam
both frameworks share. `jax_side` / `torch_side`: the two frameworks behind one interface (forward_runner,
train, device). `runs`: run to run. `frameworks`: JAX vs PyTorch. `settings` (+ its child, `timing`): the knobs
that govern determinism, each timed in a fresh process. `report`: run them all, write Markdown and JSON.
"""
