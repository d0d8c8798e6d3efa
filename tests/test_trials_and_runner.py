"""The pure-Python cores of the control nodes: trial scoring and the policy runner."""
from dataclasses import replace

import numpy as np
import pytest

from dactyl_core import joints, rotations
from dactyl_core.env import load_env_config
from dactyl_core.observations import POLICY_LAYOUT
from dactyl_core.onnx_models import OnnxPolicy
from dactyl_core.policy_runner import InputGate, PolicyRunner
from dactyl_core.trials import TrialTracker

PALM = np.array([1.0, 0.87, 0.17])


@pytest.fixture
def tracker():
    return TrialTracker(load_env_config().task, 0.08, np.random.default_rng(0))


def test_reaching_the_goal_draws_a_new_one_and_fifty_end_the_trial(tracker):
    goal = tracker.start()
    for k in range(1, 51):
        update = tracker.update(k * 0.08, PALM, tracker.goal)
        assert update.success and update.successes == k
    assert update.done_reason == "max_successes" and not tracker.running
    assert not np.allclose(goal, tracker.goal)


def test_a_drop_ends_the_trial(tracker):
    goal = tracker.start()
    far = rotations.multiply(rotations.from_axis_angle(np.array([1.0, 0, 0]), np.pi / 2), goal)
    assert tracker.update(0.08, PALM, far).done_reason == "running"
    assert tracker.update(0.16, PALM - [0, 0, 0.1], far).done_reason == "dropped"


def test_goal_timeout_counts_steps_missed_between_poses(tracker):
    config = load_env_config().task
    goal = tracker.start()
    far = rotations.multiply(rotations.from_axis_angle(np.array([0, 1.0, 0]), np.pi / 2), goal)
    tracker.update(0.08, PALM, far)
    # One pose per 100 control steps: the timeout still comes after goal_timeout_steps steps.
    update = tracker.update(0.08 * (config.goal_timeout_steps - 1), PALM, far)
    assert update.done_reason == "running"
    assert tracker.update(0.08 * config.goal_timeout_steps, PALM, far).done_reason == "timed_out"


def test_nearby_goals_are_drawn_from_the_measured_object():
    config = replace(load_env_config().task, goal_mode="nearby", nearby_goal_angle=0.5)
    tracker = TrialTracker(config, 0.08, np.random.default_rng(0))
    with pytest.raises(ValueError, match="measured pose"):
        tracker.start()
    start = rotations.from_axis_angle(np.array([0.2, 0.9, -0.4]), 2.0)
    goal = tracker.start(start)
    assert rotations.distance(goal, start) == pytest.approx(0.5)
    reached = rotations.multiply(rotations.from_axis_angle(np.array([1.0, 0, 0]), 0.3), goal)  # within 0.4 rad
    update = tracker.update(0.08, PALM, reached)
    assert update.success and update.done_reason == "running"
    assert rotations.distance(tracker.goal, reached) == pytest.approx(0.5)  # from where the object is now


def test_nearby_goals_about_the_trial_axis_continue_the_turn_in_the_graph_tracker():
    config = replace(load_env_config().task, goal_mode="nearby", nearby_goal_angle=0.5, nearby_goal_axis="z")
    tracker = TrialTracker(config, 0.08, np.random.default_rng(0))
    start = rotations.from_axis_angle(np.array([0.2, 0.9, -0.4]), 2.0)
    goal = tracker.start(start)
    assert tracker.update(0.08, PALM, goal).success
    for first, second in ((start, goal), (goal, tracker.goal)):
        axis, angle = rotations.to_axis_angle(rotations.relative(first, second))
        np.testing.assert_allclose(axis, [0.0, 0.0, 1.0], atol=1e-9)
        assert angle == pytest.approx(0.5)


def test_runner_integrates_actions_within_limits_and_resets_per_trial(untrained_policy):
    config = load_env_config()
    runner = PolicyRunner(OnnxPolicy(untrained_policy, 1, POLICY_LAYOUT, config.actions, 0.08))
    tips = np.tile(PALM + [0, 0, 0.08], (5, 1))
    goal = rotations.IDENTITY
    runner.start_trial()
    with pytest.raises(RuntimeError, match="set_hand_pose"):
        runner.step(tips, PALM, goal, goal)
    runner.set_hand_pose(np.zeros(24))
    first = [runner.step(tips, PALM, goal, goal) for _ in range(30)]
    for targets in first:
        assert targets.shape == (24,)
        assert ((targets >= joints.COMMAND_LIMITS[:, 0] - 1e-9) & (targets <= joints.COMMAND_LIMITS[:, 1] + 1e-9)).all()
    runner.start_trial()
    runner.set_hand_pose(np.zeros(24))
    again = [runner.step(tips, PALM, goal, goal) for _ in range(30)]
    np.testing.assert_allclose(first, again, atol=1e-6)  # same trial from a reset LSTM: same commands


def test_input_gate_says_what_is_missing_or_stale():
    gate = InputGate(max_age=0.1, control_period=0.08)
    assert gate.problems(1.0, {"object pose": None, "fingertips": 0.95}) == ["no object pose received yet"]
    assert gate.problems(1.0, {"object pose": 0.8, "fingertips": 0.95}) == ["object pose is 0.200 s old (limit 0.1 s)"]
    assert gate.due([1.0, 1.0])
    gate.stepped([1.0, 1.0])
    assert not gate.due([1.0, 1.08]) and gate.due([1.08, 1.08])
