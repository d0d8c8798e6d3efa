"""The evaluation protocol and `dactyl evaluate`."""
import json
import subprocess
import sys

import numpy as np

from dactyl_core.env import DactylEnv, load_env_config
from dactyl_core.evaluate import evaluate
from dactyl_core.policies import RandomPolicy, ZeroPolicy


def dactyl_evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dactyl_core.cli", "evaluate", *args], capture_output=True, text=True)


def short_config(randomization="all"):
    return load_env_config(randomization=randomization, overrides={"task": {"goal_timeout_steps": 25}})


def test_zero_policy_gives_a_sane_table():
    config = short_config()
    env = DactylEnv(config, num_envs=3, seed=0, num_threads=1)
    result = evaluate(ZeroPolicy(3, config.actions), env, trials=7, progress=False)
    assert len(result.trials) == 7 and all(t >= 0 for t in result.trials)
    assert set(result.reasons) <= {"timed_out", "dropped"}
    assert result.count("timed_out") + result.count("dropped") == 7
    assert result.mean <= 1.0  # holding still almost never reaches a goal
    d = result.to_dict()
    for key in ("trials", "mean", "std", "median", "drops", "timeouts"):
        assert key in d
    assert d["sorted_trials"] == sorted(result.trials)
    row = result.table_row()
    assert row.startswith(f"{result.mean:.1f} +- {result.std:.1f}  median")


def test_evaluation_is_repeatable_and_counts_every_trial_once():
    config = short_config()
    runs = []
    for _ in range(2):
        env = DactylEnv(config, num_envs=2, seed=5, num_threads=1)
        runs.append(evaluate(RandomPolicy(2, config.actions, seed=1), env, trials=5, progress=False))
    assert runs[0].trials == runs[1].trials and runs[0].reasons == runs[1].reasons
    assert runs[0].env_steps == runs[1].env_steps > 0


def test_the_evaluate_command_prints_the_row_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    result = dactyl_evaluate("--policy", "zero", "--trials", "2", "--randomization", "none", "--no-progress",
                             "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "consecutive successes:" in result.stdout and "median" in result.stdout
    data = json.loads(out.read_text())
    assert len(data["trials"]) == 2 and data["timeouts"] + data["drops"] == 2
    assert np.isclose(data["mean"], np.mean(data["trials"]))
    assert data["goals"] == "face_aligned"


def test_the_evaluate_command_scores_a_nearby_goal_curriculum_stage(tmp_path):
    out = tmp_path / "r.json"
    result = dactyl_evaluate("--policy", "zero", "--trials", "2", "--nearby-goals", "0.5", "--randomization", "none",
                             "--no-progress", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "goals nearby 0.5 rad" in result.stdout and json.loads(out.read_text())["goals"] == "nearby 0.5 rad"
    bad = dactyl_evaluate("--nearby-goals", "-1", "--trials", "1")
    assert bad.returncode == 2 and "nearby_goal_angle" in bad.stderr and "Traceback" not in bad.stderr
    axis = dactyl_evaluate("--policy", "zero", "--trials", "2", "--nearby-goals", "0.5", "--nearby-axis", "trial",
                           "--randomization", "none", "--no-progress", "--json", str(out))
    assert axis.returncode == 0, axis.stderr
    assert json.loads(out.read_text())["goals"] == "nearby 0.5 rad, one axis per trial"
    bad = dactyl_evaluate("--nearby-axis", "x", "--trials", "1")
    assert bad.returncode == 2 and "--nearby-axis needs --nearby-goals" in bad.stderr and "Traceback" not in bad.stderr


def test_the_evaluate_command_runs_the_trials_about_each_signed_world_axis(tmp_path):
    out = tmp_path / "each.json"
    result = dactyl_evaluate("--policy", "zero", "--trials", "2", "--nearby-goals", "0.5", "--nearby-axis", "each",
                             "--randomization", "none", "--no-progress", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("about ")]
    assert [row.split(":")[0] for row in rows] == ["about +x", "about -x", "about +y", "about -y", "about +z", "about -z"]
    written = json.loads(out.read_text())
    assert list(written) == ["+x", "-x", "+y", "-y", "+z", "-z"]
    assert written["-y"]["goals"] == "nearby 0.5 rad about -y" and len(written["-y"]["trials"]) == 2
    assert f"about -y: {written['-y']['mean']:.2f} +- " in result.stdout
    bad = dactyl_evaluate("--nearby-axis", "each", "--trials", "1")
    assert bad.returncode == 2 and "needs --nearby-goals" in bad.stderr and "Traceback" not in bad.stderr


def test_the_evaluate_command_refuses_bad_input(tmp_path):
    bad = dactyl_evaluate("--policy", str(tmp_path / "none.onnx"), "--trials", "1")
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
    bad = dactyl_evaluate("--policy", "greedy", "--trials", "1")
    assert bad.returncode == 2 and "unknown policy 'greedy'" in bad.stderr


def test_a_video_films_environment_zero_for_the_asked_trials_in_real_time(tmp_path):
    import cv2

    from dactyl_core.video import END_CARD_SECONDS, TrialVideo

    config = short_config()
    env = DactylEnv(config, num_envs=2, seed=3, num_threads=1)
    path = tmp_path / "trials.mp4"
    video = TrialVideo(env, path, trials=2, size=(120, 160))
    try:
        result = evaluate(RandomPolicy(2, config.actions, seed=1), env, trials=6, progress=False, video=video)
    finally:
        video.close()
    assert not video.recording  # environment 0 finished its 2 trials among the 6
    end_cards = 2 * round(END_CARD_SECONDS * video.fps)
    assert end_cards < video.frames < result.env_steps // 2 + end_cards  # stopped filming after its 2 trials
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == 12.5  # one frame per 80 ms control step: real time
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == video.frames and frames[0].shape == (120, 160, 3)
    assert np.abs(frames[0].astype(int) - frames[20].astype(int)).mean() > 1  # the random policy moves the hand
    bad = dactyl_evaluate("--trials", "1", "--video", str(tmp_path / "v.mp4"), "--video-trials", "0")
    assert bad.returncode == 2 and "video trials must be at least 1" in bad.stderr


def test_lead_is_the_difference_of_the_means_in_standard_errors():
    from dactyl_core.evaluate import EvaluationResult, lead

    policy = EvaluationResult([0, 2, 0, 2], ["timed_out"] * 4)  # mean 1, std 1
    baseline = EvaluationResult([0, 0, 0, 0], ["dropped"] * 4)  # mean 0, std 0
    difference, standard_errors = lead(policy, baseline)
    assert difference == 1.0 and np.isclose(standard_errors, 1.0 / (1.0 / 2.0))
    assert lead(baseline, baseline) == (0.0, 0.0)
    assert lead(EvaluationResult([1, 1], ["timed_out"] * 2), baseline) == (1.0, np.inf)


def test_the_evaluate_command_runs_baselines_on_the_same_trials_and_reports_the_lead(tmp_path):
    out = tmp_path / "r.json"
    result = dactyl_evaluate("--policy", "zero", "--trials", "2", "--against", "random,zero", "--randomization",
                             "none", "--no-progress", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    against = data["extra"]["against"]
    assert list(against) == ["random", "zero"] and len(against["random"]["trials"]) == 2
    assert against["zero"]["trials"] == data["trials"] and against["zero"]["lead"] == 0.0  # the same trials, repeated
    assert np.isclose(against["random"]["lead"], data["mean"] - against["random"]["mean"])
    assert f"lead of zero: {against['random']['lead']:+.3f} consecutive successes per trial" in result.stdout
    bad = dactyl_evaluate("--against", "random", "--nearby-goals", "0.5", "--nearby-axis", "each", "--trials", "1")
    assert bad.returncode == 2 and "--against compares one run" in bad.stderr
