"""report.md's verdicts: a difference of means counts only beyond the seed spread."""

import math

from recovery_jax.study.floor import FLOOR
from recovery_jax.study.verdicts import verdicts

LAYERS = 3
TWO_STEP = ("ASR10→SER", "ASR100→SER", "ASR960→SER")


def _summary(uar: dict[str, tuple[float, float]]) -> dict:
    """A study summary with the given Table I (name -> (mean, std)) and a floor every system clears."""
    rows = [["G", name, 96, 3, mean, std] for name, (mean, std) in uar.items()]
    layer = {"p_value": [0.01] * LAYERS, "cross_mean": [0.2] * LAYERS, "floor_mean": [0.0] * LAYERS}
    return {"table1_rows": rows,
            "table2": [[FLOOR, 3, 3.0, 1.0, math.nan, math.nan, math.nan]]
            + [[n, 9, 30.0, 1.0, math.nan, 27.0, 0.0005] for n in TWO_STEP],
            "noise_floor": {"attention": {"per layer": {n: layer for n in (*TWO_STEP, "ASR10", "ASR100", "ASR960")}}}}


def _by_claim(summary: dict) -> dict[str, dict]:
    return {v["claim"].split(" (")[0]: v for v in verdicts(summary, LAYERS)}


def _uar(**changes) -> dict[str, tuple[float, float]]:
    base = {"PT": (58.0, math.nan), "SER": (62.0, 0.5), "ASR10": (57.0, 1.0), "ASR100": (58.0, 1.0),
            "ASR960": (53.0, 1.0), **{n: (61.5, 1.0) for n in TWO_STEP}}
    return {**base, **{k.replace("_to_", "→"): v for k, v in changes.items()}}


def test_clear_differences_support_the_ranking_claims():
    v = _by_claim(_summary(_uar()))
    assert v["SER is the best neural representation"]["verdict"] == "supported"
    assert v["ASR960 falls below ASR100 and PT"]["verdict"] == "supported"
    assert v["ASR(x)→SER recovers SER's performance"]["verdict"] == "supported"
    assert v["ASR(x)→SER's decisions shift away from SER's beyond the noise floor"]["verdict"] == "supported"


def test_ordered_means_within_the_seed_spread_are_not_a_fall():
    v = _by_claim(_summary(_uar(ASR960=(56.5, 3.0), ASR100=(57.0, 1.0))))["ASR960 falls below ASR100 and PT"]
    assert v["verdict"] == "not supported"
    assert "ordered as the paper's, within the seed spread" in v["evidence"]
    one_clear = _by_claim(_summary(_uar(ASR960=(55.0, 1.0), ASR100=(56.0, 1.0))))
    assert one_clear["ASR960 falls below ASR100 and PT"]["verdict"] == "partly"  # clear below PT only


def test_ser_within_spread_of_pt_is_not_clearly_best():
    highest = {n.replace("→", "_to_"): (58.2, 1.0) for n in TWO_STEP}
    v = _by_claim(_summary(_uar(SER=(58.5, 0.5), **highest)))["SER is the best neural representation"]
    assert v["verdict"] == "partly" and "more than 2 seed std: no" in v["evidence"]
    far = _by_claim(_summary(_uar(ASR10_to_SER=(55.0, 1.0))))["ASR(x)→SER recovers SER's performance"]
    assert far["verdict"] == "partly" and "ASR10→SER 55.0 ± 1.0 vs SER 62.0 ± 0.5: outside" in far["evidence"]
