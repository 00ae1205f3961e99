"""Packages only (everything else is in setup.cfg): the checkout's top-level launch/ and configs/ folders
install under non-colliding names, so `recovery-jax` and its shipped config files work outside the checkout."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["recovery_jax", "recovery_jax.*"]) + ["recovery_jax_launch", "recovery_jax_configs"],
    package_dir={"recovery_jax_launch": "launch", "recovery_jax_configs": "configs"},
)
