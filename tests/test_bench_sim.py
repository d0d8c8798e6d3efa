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


def test_the_gymnasium_baseline_is_measured_every_round_and_closed_at_the_end():
    made = []

    class RecordingBaseline:  # GymnasiumBaseline's interface, without its venv
        def __init__(self, processes):
            self.processes, self.slices, self.closed = processes, 0, False
            made.append(self)

        def run(self, seconds):
            self.slices += 1
            return 100.0 * self.processes

        def close(self):
            self.closed = True

    result = sim.run(load_env_config(), seconds=0.05, rounds=3, envs_per_core=2, gymnasium=RecordingBaseline,
                     progress=lambda line: None)
    assert [(b.processes, b.slices, b.closed) for b in made] == [(1, 3, True), (result.cores, 3, True)]
    assert result.samples["gymnasium_1core"] == [100.0] * 3


def test_the_raw_limit_ends_episodes_at_the_goal_timeout_like_ours():
    raw = sim.RawPhysics(load_env_config(overrides={"task": {"goal_timeout_steps": 3}}), simulations=2)
    assert raw.run(0.3) > 0
    assert raw.episode_steps.max() < 3  # restarted from the initial pose, as our environments are
