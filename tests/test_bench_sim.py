"""`dactyl bench-sim`'s measurement: every rate is measured each round, and ratios pair rounds."""
import pytest

from dactyl_core.bench import sim
from dactyl_core.env import load_env_config


def test_ratios_are_medians_of_same_round_ratios():
    result = sim.BenchResult(cores=2, rounds=3, seconds=1.0)
    for ours, raw in ((95, 100), (40, 50), (270, 300)):  # the machine's speed drifts between rounds
        result.add("ours_1core", ours)
        result.add("raw_limit_1core", raw)
    assert result.paired_ratio("ours_1core", "raw_limit_1core") == pytest.approx(0.9)  # of 0.95, 0.8, 0.9
    assert result.median("ours_1core") / result.median("raw_limit_1core") == pytest.approx(0.95)  # unpaired
    assert result.paired_ratio("ours_1core", "gymnasium_1core") is None


def test_a_short_run_measures_every_rate_in_every_round():
    lines = []
    result = sim.run(load_env_config(), seconds=0.2, rounds=2, envs_per_core=2, progress=lines.append)
    keys = {"raw_limit_1core", "raw_limit_batch_1core", "ours_1core", f"ours_{result.cores}cores"}
    assert set(result.samples) == keys and all(len(v) == 2 and min(v) > 0 for v in result.samples.values())
    assert len(lines) == 2 and result.to_dict()["medians"].keys() == keys
