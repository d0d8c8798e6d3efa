"""The gymnasium-robotics baseline of `dactyl bench-sim` runs in its own venv at our 80 ms control period."""
from pathlib import Path

import pytest

from dactyl_core.bench import gymnasium_baseline as baseline

REPO = Path(__file__).resolve().parents[1]


def test_baseline_measures_hand_manipulate_block_at_80ms():
    baseline.ensure_baseline_venv(REPO)
    worker = baseline.GymnasiumBaseline(1, REPO)
    try:
        result = worker.measure(0.5)
        again = worker.run(0.2)  # the same environment, measured again
    finally:
        worker.close()
    assert result["env"] == "HandManipulateBlock-v1"
    assert result["n_substeps"] == 40  # x 2 ms = our control period; the worker asserts env.dt == 0.08
    assert result["processes"] == 1 and len(result["per_process"]) == 1
    assert 10 < result["control_steps_per_s"] < 100_000 and 10 < again < 100_000


def test_missing_baseline_venv_is_a_clear_error(tmp_path):
    with pytest.raises(baseline.BaselineUnavailable, match="gymnasium-robotics baseline failed"):
        baseline.GymnasiumBaseline(1, tmp_path)


def test_a_baseline_worker_that_dies_is_a_clear_error(tmp_path):
    python = tmp_path / baseline.BASELINE_VENV / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'ImportError: no module named gymnasium_robotics' >&2\nexit 1\n")
    python.chmod(0o755)
    worker = baseline.GymnasiumBaseline(1, tmp_path)
    with pytest.raises(baseline.BaselineUnavailable, match="baseline failed: ImportError: no module named gymnasium_robotics"):
        worker.measure(0.1)
    worker.close()
