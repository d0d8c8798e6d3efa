"""`dactyl graph-loop`: the graph's per-step code in one process, each difference from evaluate a switch."""
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np

from dactyl_control.graph_loop import GraphLoop, LoopOptions, run_graph_loop
from dactyl_core.env import load_env_config
from dactyl_core.task import DONE_REASONS


def short_trials(randomization="none"):
    config = load_env_config("block", randomization, {"task": {"goal_mode": "nearby", "nearby_goal_angle": 0.5}})
    return replace(config, task=replace(config.task, goal_timeout_steps=40))


def test_trials_end_as_evaluate_scores_them_and_repeat_with_the_seed(untrained_policy):
    runs = [run_graph_loop(str(untrained_policy), short_trials("all"), 3, LoopOptions(), seed=4) for _ in range(2)]
    assert runs[0].trials == runs[1].trials and runs[0].reasons == runs[1].reasons
    assert runs[0].env_steps == runs[1].env_steps > 0
    assert len(runs[0].trials) == 3 and set(runs[0].reasons) <= set(DONE_REASONS)
    assert runs[0].extra["graph_loop"]["mocap"] is True


def test_switches_change_what_the_policy_sees_and_what_reaches_the_hand(untrained_policy):
    evaluate_like = GraphLoop(str(untrained_policy), short_trials(), LoopOptions.evaluate_like())
    fingertips, position, quat = evaluate_like._observe()
    true_position, true_quat = evaluate_like.hand.object_pose()
    np.testing.assert_allclose(position, true_position)  # no randomization: no noise, no markers
    np.testing.assert_allclose(quat, true_quat)

    with_mocap = GraphLoop(str(untrained_policy), short_trials(), LoopOptions())
    _, position, _ = with_mocap._observe()
    error = np.linalg.norm(position - with_mocap.hand.object_pose()[0])
    assert 0 < error < 0.01  # fitted to markers with 3 mm noise

    slow = GraphLoop(str(untrained_policy), short_trials(), LoopOptions(max_joint_speed=0.01))
    slow.run_trial()
    assert slow.rate_limited > 0
    unfiltered = GraphLoop(str(untrained_policy), short_trials(), replace(LoopOptions(max_joint_speed=0.01), safety_filter=False))
    unfiltered.run_trial()
    assert unfiltered.rate_limited == 0


def test_a_fingertip_marker_lost_past_the_hold_time_stops_the_policy_as_in_the_graph(untrained_policy):
    loop = GraphLoop(str(untrained_policy), short_trials(), LoopOptions(marker_dropout=0.0))
    loop.hand.reset()
    assert loop._observe() is not None
    loop.fitter.fingertip_ids[0] = 999_999  # FF's marker is no longer reported
    steps_in_hold = int(LoopOptions().fingertip_hold_time / loop.hand.control_period)
    held = [loop._next_control_step() for _ in range(steps_in_hold)]
    assert all(observed is not None for observed in held)
    assert loop._next_control_step() is None  # no fingertips published: the policy node does not act


def test_the_command_prints_the_row_and_writes_json(tmp_path, untrained_policy):
    out = tmp_path / "r.json"
    result = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "graph-loop", "--policy", str(untrained_policy),
                             "--trials", "1", "--nearby-goals", "0.5", "--no-mocap", "--score-measured", "--no-progress", "--json", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "consecutive successes:" in result.stdout and "mocap off, goal_late on, safety_filter on, score_measured on" in result.stdout
    data = json.loads(out.read_text())
    assert len(data["trials"]) == 1 and data["goals"] == "nearby 0.5 rad"
    assert data["extra"]["graph_loop"]["mocap"] is False and data["extra"]["graph_loop"]["score_measured"] is True
    bad = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "graph-loop", "--trials", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--trials must be at least 1" in bad.stderr
