"""`dactyl plot-training`: a run's progress.jsonl as one PNG of training curves."""
import gzip
import json
import subprocess
import sys

import cv2
import numpy as np

from dactyl_training.plot import load_progress, plot_training, rolling_mean


def write_progress(path, iterations=30, first=1, directions=False):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(first, first + iterations):
        record = {"iteration": i, "env_steps": 2048 * i, "wall_time": 2.0 * i, "loss/entropy": 48.0 - i * 0.1,
                  "perf/env_steps_per_s": 1000 + rng.normal(0, 50)}
        if i % 3:  # some iterations finish no trial and carry no episode statistics
            record.update({"episode/count": 2.0, "episode/successes": i / 10, "episode/drop_fraction": 0.5})
        if i > 10:
            record["curriculum/goal_angle"] = 0.6
        if directions and i % 2:
            record.update({"goals/reached_+x": 0.8, "goals/ended_+x": 5.0, "goals/reached_-y": 0.1, "goals/ended_-y": 1.0})
        lines.append(json.dumps(record))
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def test_rolling_mean_weights_by_trials_and_skips_iterations_without_any():
    values = np.array([1.0, np.nan, 3.0, 5.0])
    counts = np.array([1.0, 0.0, 3.0, 0.0])
    np.testing.assert_allclose(rolling_mean(values, counts, 2), [1.0, 1.0, 3.0, 3.0])
    np.testing.assert_allclose(rolling_mean(values, counts, 3), [1.0, 1.0, (1 + 9) / 4, 3.0])
    assert np.isnan(rolling_mean(np.array([np.nan]), np.array([0.0]), 5)[0])


def test_progress_loads_from_a_run_directory_or_a_gzipped_file_and_plots(tmp_path):
    write_progress(tmp_path / "progress.jsonl")
    write_progress(tmp_path / "copy.jsonl.gz")
    plain, zipped = load_progress(tmp_path), load_progress(tmp_path / "copy.jsonl.gz")
    assert plain.keys() == zipped.keys() and len(plain["iteration"]) == 30
    assert np.isnan(plain["episode/successes"][2]) and np.isnan(plain["curriculum/goal_angle"][0])
    out = plot_training(plain, tmp_path / "curves.png", "test run", window=5)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 300 and image.std() > 10  # a drawn figure, not a blank


def test_a_run_that_logged_goals_by_direction_gets_a_third_row_for_them(tmp_path):
    from dactyl_training.plot import logged_directions

    write_progress(tmp_path / "plain.jsonl")
    write_progress(tmp_path / "directions.jsonl", directions=True)
    plain, with_directions = load_progress(tmp_path / "plain.jsonl"), load_progress(tmp_path / "directions.jsonl")
    assert logged_directions(plain) == [] and logged_directions(with_directions) == ["+x", "-y"]
    short = cv2.imread(str(plot_training(plain, tmp_path / "plain.png", window=5)))
    tall = cv2.imread(str(plot_training(with_directions, tmp_path / "directions.png", window=5)))
    assert tall.shape[0] > 1.3 * short.shape[0] and tall.shape[1] == short.shape[1]
    assert tall[-tall.shape[0] // 4:].std() > 10  # the third row is drawn


def test_a_resumed_checkpoint_directory_reads_the_archive_then_the_log_and_a_repeated_iteration_once(tmp_path):
    """`models/checkpoints/...` holds the whole log as progress.jsonl.gz; a run resumed there appends to
    progress.jsonl, and after a crash repeats the iterations since its last checkpoint (here 28-30)."""
    write_progress(tmp_path / "progress.jsonl.gz", iterations=30)
    write_progress(tmp_path / "progress.jsonl", iterations=10, first=28)
    with open(tmp_path / "progress.jsonl") as f:
        repeated = json.loads(f.readline())
    progress = load_progress(tmp_path)
    np.testing.assert_array_equal(progress["iteration"], np.arange(1, 38))
    assert progress["env_steps"][27] == repeated["env_steps"] and progress["wall_time"][-1] == 2.0 * 37
    assert progress["perf/env_steps_per_s"][27] == repeated["perf/env_steps_per_s"]  # the later record of 28


def test_the_command_writes_the_png_and_refuses_what_is_not_a_run(tmp_path):
    write_progress(tmp_path / "progress.jsonl")
    result = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "plot-training", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "30 iterations (to 61,440 env steps)" in result.stdout and (tmp_path / "training.png").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "plot-training", str(empty)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "has no progress.jsonl" in bad.stderr and "Traceback" not in bad.stderr
    (empty / "progress.jsonl").write_text("")
    bad = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "plot-training", str(empty)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "has no iterations yet" in bad.stderr
