"""recovery-jax: the wav2vec2 emotion-information recovery study in JAX/Flax."""
