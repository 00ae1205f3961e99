"""Linear-SVM leave-one-session-out probing with UAR/WAR (paper Sec. IV, Table I)."""

from recovery_jax.probe.layerwise import probe_layers
from recovery_jax.probe.loso import FeatureSource, FoldResult, ProbeResult, probe_loso
from recovery_jax.probe.metrics import confusion, uar, war
from recovery_jax.probe.svm import HANDCRAFTED_GRID, LINEAR_GRID, make_search
