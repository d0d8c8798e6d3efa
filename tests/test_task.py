"""Task logic on constructed states: goals, success, drops, timeouts, reward, trial bookkeeping."""
from dataclasses import replace

import numpy as np
import pytest

from dactyl_core import rotations, task
from dactyl_core.config import ConfigError
from dactyl_core.env import load_env_config

CONFIG = task.TaskConfig()


def test_face_aligned_goals_have_a_face_up():
    goals = task.sample_orientations(np.random.default_rng(0), 500, "face_aligned")
    up = rotations.rotate(rotations.conjugate(goals), np.array([0.0, 0.0, 1.0]))  # world up in the object frame
    assert np.allclose(np.abs(up).max(axis=1), 1.0, atol=1e-9)  # world up is one of the object's axes
    yaw_spread = np.unique(np.round(rotations.to_axis_angle(goals)[1], 3)).size
    assert yaw_spread > 100  # uniform about the vertical, not just 24 orientations


def test_full_goals_cover_rotations_and_unknown_mode_is_refused():
    goals = task.sample_orientations(np.random.default_rng(0), 2000, "full")
    assert rotations.distance(goals, rotations.IDENTITY).mean() == pytest.approx(np.pi / 2 + 2 / np.pi, abs=0.05)
    with pytest.raises(ValueError, match="face_aligned"):
        task.sample_orientations(np.random.default_rng(0), 1, "random")


def test_nearby_goals_are_the_configured_turn_from_the_object_in_random_directions():
    config = task.TaskConfig(goal_mode="nearby", nearby_goal_angle=0.8)
    current = task.initial_orientations(np.random.default_rng(1), 1000, config)
    goals = task.sample_goals(np.random.default_rng(2), current, config)
    np.testing.assert_allclose(rotations.distance(current, goals), 0.8, atol=1e-9)
    axes, _ = rotations.to_axis_angle(rotations.relative(current, goals))
    assert np.abs(axes.mean(axis=0)).max() < 0.1  # no preferred direction
    # The paper's goal modes do not depend on where the object is.
    face = task.TaskConfig()
    a = task.sample_goals(np.random.default_rng(3), current[:5], face)
    b = task.sample_goals(np.random.default_rng(3), np.tile(rotations.IDENTITY, (5, 1)), face)
    np.testing.assert_array_equal(a, b)


def test_nearby_goals_turn_about_the_trial_axis_or_a_world_axis_when_asked():
    current = task.initial_orientations(np.random.default_rng(1), 200, task.TaskConfig())
    rng = np.random.default_rng(4)
    assert task.sample_goal_axes(rng, 200, task.TaskConfig(goal_mode="nearby")) is None  # each goal draws its own
    assert task.sample_goal_axes(rng, 200, task.TaskConfig(nearby_goal_axis="trial")) is None  # paper's goals
    assert rng.bit_generator.state == np.random.default_rng(4).bit_generator.state  # and neither drew anything
    for choice in ("trial", "y"):
        config = task.TaskConfig(goal_mode="nearby", nearby_goal_angle=0.6, nearby_goal_axis=choice)
        axes = task.sample_goal_axes(rng, 200, config)
        np.testing.assert_allclose(np.linalg.norm(axes, axis=1), 1.0)
        goals = task.sample_goals(rng, current, config, axes)
        turn_axes, angles = rotations.to_axis_angle(rotations.relative(current, goals))
        np.testing.assert_allclose(angles, 0.6, atol=1e-9)
        np.testing.assert_allclose(turn_axes, axes, atol=1e-9)  # the positive way about the given axis
    np.testing.assert_array_equal(axes, np.tile([0.0, 1.0, 0.0], (200, 1)))
    assert task.describe_goals(task.TaskConfig()) == "face_aligned"
    assert task.describe_goals(task.TaskConfig(goal_mode="nearby", nearby_goal_angle=0.7)) == "nearby 0.7 rad"
    assert task.describe_goals(config) == "nearby 0.6 rad about +y"
    assert task.describe_goals(replace(config, nearby_goal_axis="trial")) == "nearby 0.6 rad, one axis per trial"
    assert task.describe_goals(replace(config, nearby_goal_axis="-z")) == "nearby 0.6 rad about -z"
    with pytest.raises(ConfigError, match="nearby_goal_axis"):
        load_env_config(overrides={"task": {"nearby_goal_axis": "w"}})


def test_nearby_goals_about_signed_world_axes():
    """"-y" turns the negative way about y; "world" draws each of the six signed axes about equally often."""
    current = task.initial_orientations(np.random.default_rng(1), 600, task.TaskConfig())
    rng = np.random.default_rng(5)
    minus_y = task.TaskConfig(goal_mode="nearby", nearby_goal_angle=0.6, nearby_goal_axis="-y")
    goals = task.sample_goals(rng, current, minus_y, task.sample_goal_axes(rng, 600, minus_y))
    turn_axes, angles = rotations.to_axis_angle(rotations.relative(current, goals))
    np.testing.assert_allclose(angles, 0.6, atol=1e-9)
    np.testing.assert_allclose(turn_axes, np.tile([0.0, -1.0, 0.0], (600, 1)), atol=1e-9)

    world = task.TaskConfig(goal_mode="nearby", nearby_goal_angle=np.pi / 2, nearby_goal_axis="world")
    assert task.sample_goal_axes(rng, 600, world) is None
    goals = task.sample_goals(rng, current, world)
    turn_axes, angles = rotations.to_axis_angle(rotations.relative(current, goals))
    np.testing.assert_allclose(angles, np.pi / 2, atol=1e-9)
    signed = np.rint(turn_axes).astype(int)
    np.testing.assert_allclose(turn_axes, signed, atol=1e-9)  # a world axis, either way
    counts = {tuple(v): n for v, n in zip(*np.unique(signed, axis=0, return_counts=True))}
    assert len(counts) == 6 and min(counts.values()) > 60, counts  # 100 expected each
    # turn_direction names them: "+x" is (1, 0, 0), "-z" is (0, 0, -1), ...
    names = np.array(task.SIGNED_AXES)[task.turn_direction(current, goals)]
    expected = [("+" if v[v != 0][0] > 0 else "-") + "xyz"[np.flatnonzero(v)[0]] for v in signed]
    assert names.tolist() == expected


def test_world_axis_weights_set_how_often_each_direction_is_drawn():
    current = task.initial_orientations(np.random.default_rng(1), 2000, task.TaskConfig())
    weighted = task.TaskConfig(goal_mode="nearby", nearby_goal_angle=0.6, nearby_goal_axis="world",
                               world_axis_weights=(1.0, 0.0, 3.0, 0.0, 0.0, 0.0))
    goals = task.sample_goals(np.random.default_rng(2), current, weighted)
    counts = np.bincount(task.turn_direction(current, goals), minlength=6)
    assert counts[[1, 3, 4, 5]].sum() == 0  # weight 0: never drawn
    assert 2.6 < counts[2] / counts[0] < 3.4, counts  # +y three times as often as +x (1500 : 500 expected)
    for bad in ([1, 1, 1, 1, 1, -1], [0, 0, 0, 0, 0, 0]):
        with pytest.raises(ConfigError, match="world_axis_weights must be >= 0 with a positive sum"):
            load_env_config(overrides={"task": {"world_axis_weights": bad}})
    with pytest.raises(ConfigError, match=r"world_axis_weights: expected a list of 6 values"):
        load_env_config(overrides={"task": {"world_axis_weights": [1, 2, 3]}})


def test_success_drop_and_reward():
    d_before = np.array([1.0, 0.5, 0.5, 0.3])
    d_after = np.array([0.9, 0.39, 0.6, 0.3])
    success = task.is_success(d_after, CONFIG)
    assert success.tolist() == [False, True, False, True]
    dropped = task.is_dropped(np.array([[0, 0, 0.2], [0, 0, 0.2], [0, 0, 0.05], [0, 0, 0.11]]), CONFIG)
    assert dropped.tolist() == [False, False, True, False]
    r = task.reward(d_before, d_after, success, dropped, CONFIG)
    np.testing.assert_allclose(r, [0.1, 0.11 + 5.0, -0.1 - 20.0, 0.0 + 5.0])


def test_trial_counting_and_precedence():
    c = task.TrialCounters.zeros(4)
    cfg = task.TaskConfig(goal_timeout_steps=3, max_successes=2)
    no = np.zeros(4, bool)
    for _ in range(2):
        assert (task.advance(c, no, no, no, cfg) == task.RUNNING).all()
    reason = task.advance(c, np.array([True, False, False, False]), np.array([False, False, True, False]),
                          np.array([False, False, False, True]), cfg)
    assert reason.tolist() == [task.RUNNING, task.TIMED_OUT, task.DROPPED, task.UNSTABLE]
    assert c.successes.tolist() == [1, 0, 0, 0] and c.steps_on_goal.tolist() == [0, 3, 3, 3]
    reason = task.advance(c, np.array([True, True, False, False]), no, no, cfg)
    assert reason[0] == task.MAX_SUCCESSES  # second consecutive success hits max_successes=2
    c.reset(np.array([True, False, False, False]))
    assert c.successes[0] == 0 and c.steps[0] == 0 and c.steps[1] == 4


def test_task_config_is_validated():
    from dactyl_core.config import ConfigError, load

    with pytest.raises(ConfigError, match="success_threshold"):
        load(task.TaskConfig, {"success_threshold": -1.0})
    with pytest.raises(ConfigError, match="goal_mode"):
        load(task.TaskConfig, {"goal_mode": "spin"})
