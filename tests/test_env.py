"""The batched environment: shapes, determinism, ablations, auto-reset, success bookkeeping, bad input."""
import mujoco
import numpy as np
import pytest

from dactyl_core import rotations, task
from dactyl_core.env import DactylEnv, PhysicsPool, load_env_config
from dactyl_core.observations import POLICY_LAYOUT
from dactyl_core.randomization import PARAMETER_NAMES


def make_env(randomization="all", n=4, seed=0, **task_overrides):
    overrides = {"task": task_overrides} if task_overrides else None
    return DactylEnv(load_env_config(randomization=randomization, overrides=overrides), num_envs=n, seed=seed, num_threads=1)


def random_actions(rng, n):
    return rng.integers(0, 11, (n, 20))


def test_shapes_and_layouts():
    env = make_env()
    obs = env.reset()
    assert obs.policy.shape == (4, POLICY_LAYOUT.size) == (4, 50)
    assert obs.value.shape == (4, env.value_layout.size)
    assert env.value_layout.names[:6] == POLICY_LAYOUT.names and env.value_layout.names[-1] == "randomization"
    assert env.value_layout.fields[-1].size == len(PARAMETER_NAMES)
    step = env.step(np.full((4, 20), 5))
    assert step.reward.shape == step.done.shape == step.successes.shape == (4,)
    assert np.isfinite(step.observations.policy).all() and np.isfinite(step.observations.value).all()


def test_same_seed_same_rollout_different_seed_differs():
    def rollout(seed):
        env = make_env(seed=seed)
        first = env.reset().policy
        rng = np.random.default_rng(7)
        out = [first] + [env.step(random_actions(rng, 4)).observations.policy for _ in range(15)]
        env.close()
        return np.array(out)

    a, b, c = rollout(3), rollout(3), rollout(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_without_noise_the_policy_sees_the_truth_with_noise_it_does_not():
    for preset, equal in (("none", True), ("no-obs-noise", True), ("all", False)):
        env = make_env(preset)
        obs = env.reset()
        env.step(np.full((4, 20), 5))
        obs = env.step(np.full((4, 20), 5)).observations
        exact = obs.value[:, : POLICY_LAYOUT.size]
        assert np.allclose(obs.policy, exact, atol=1e-6) == equal, preset


def test_physics_group_switch_leaves_models_nominal(block_scene):
    env = make_env("no-physics")
    env.reset()
    for model in env.models:
        np.testing.assert_array_equal(model.body_mass, env.nominal_model.body_mass)
        assert model.opt.timestep == env.nominal_model.opt.timestep
    env = make_env("all")
    env.reset()
    assert not np.array_equal(env.models[0].body_mass, env.nominal_model.body_mass)
    assert np.any(env.models[0].actuator_delay > 0)  # latency is an unmodeled effect, on in "all"


def test_zero_action_holds_the_targets():
    env = make_env("none")
    env.reset()
    start = env.targets.copy()
    for _ in range(10):
        env.step(np.full((4, 20), 5))
    np.testing.assert_array_equal(env.targets, start)


def test_drop_ends_the_trial_and_the_env_starts_a_new_one():
    env = make_env("none")
    env.reset()
    env.step(np.full((4, 20), 5))
    env.physics.qpos[1, env.scene.object_qpos.start + 2] = 0.0  # the object is suddenly on the floor
    step = env.step(np.full((4, 20), 5))
    assert step.done.tolist() == [False, True, False, False]
    assert step.done_reason[1] == task.DROPPED and step.reward[1] < -19
    assert env.counters.steps[1] == 0 and env.counters.steps[0] == 2
    assert step.observations.policy[1, POLICY_LAYOUT.slices["object_pos"]][2] > 0.15  # back above the palm


def test_reaching_the_goal_counts_and_draws_a_new_goal():
    env = make_env("none")
    env.reset()
    quat = env.physics.qpos[0, env.scene.object_qpos][3:]
    env.goal[0] = quat  # the object is already at the goal
    old_goal = env.goal[0].copy()
    step = env.step(np.full((4, 20), 5))
    assert step.goal_reached[0] and not step.done[0]
    assert step.successes[0] == 1 and step.reward[0] > 4.0
    assert rotations.distance(env.goal[0], old_goal) > 1e-6
    observed_goal = step.observations.policy[0, POLICY_LAYOUT.slices["goal_quat"]]
    assert rotations.distance(observed_goal, env.goal[0]) < 1e-6


def test_nearby_goals_start_and_follow_the_configured_turn_from_the_object():
    env = make_env("none", goal_mode="nearby", nearby_goal_angle=0.7)
    env.reset()
    np.testing.assert_allclose(env.distance, 0.7, atol=1e-6)
    env.goal[0] = env.physics.qpos[0, env.scene.object_qpos][3:]  # reached on the next step
    step = env.step(np.full((4, 20), 5))
    assert step.goal_reached[0]
    quat = env.physics.qpos[0, env.scene.object_qpos][3:]
    assert rotations.distance(quat, env.goal[0]) == pytest.approx(0.7, abs=1e-6)


def test_nearby_goals_about_the_trial_axis_keep_turning_the_same_way_after_a_success():
    env = make_env("none", goal_mode="nearby", nearby_goal_angle=0.7, nearby_goal_axis="trial")
    env.reset()
    start = env.physics.qpos[:, env.scene.object_qpos][:, 3:]
    first_axes, _ = rotations.to_axis_angle(rotations.relative(start, env.goal))
    np.testing.assert_allclose(first_axes, env.goal_axes, atol=1e-9)
    assert np.abs(env.goal_axes[0] @ env.goal_axes[1]) < 0.99  # drawn per trial, not one for all
    env.goal[0] = env.physics.qpos[0, env.scene.object_qpos][3:]  # reached on the next step
    assert env.step(np.full((4, 20), 5)).goal_reached[0]
    quat = env.physics.qpos[0, env.scene.object_qpos][3:]
    axis, angle = rotations.to_axis_angle(rotations.relative(quat, env.goal[0]))
    assert angle == pytest.approx(0.7, abs=1e-6)
    np.testing.assert_allclose(axis, env.goal_axes[0], atol=1e-6)


def test_goal_timeout_ends_the_trial():
    env = make_env("none", goal_timeout_steps=5)
    env.reset()
    reasons = [env.step(np.full((4, 20), 5)).done_reason for _ in range(5)]
    assert (reasons[-1] == task.TIMED_OUT).all() and (np.array(reasons[:-1]) == task.RUNNING).all()


def test_a_blown_up_simulation_is_reset_not_propagated():
    env = make_env("none")
    env.reset()
    env.physics.qvel[2] = np.nan
    step = env.step(np.full((4, 20), 5))
    assert step.done[2] and step.done_reason[2] == task.UNSTABLE and step.reward[2] == 0.0
    assert np.isfinite(step.observations.policy).all()


def test_a_mujoco_error_flags_only_that_simulation_and_keeps_its_state():
    """MuJoCo raising inside one simulation (here: its arena overflows with contacts) must not stop the others."""
    model = mujoco.MjModel.from_xml_string("""<mujoco><size memory="8K"/><worldbody><geom type="plane" size="1 1 .1"/>
        <body pos="0 0 .05"><freejoint/><geom type="box" size=".05 .05 .05"/></body></worldbody></mujoco>""")
    pool = PhysicsPool([model, model], object_body=1, num_threads=2)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    pool.load(0, data)  # resting on the plane: its contacts overflow the arena
    data.qpos[2] = 1.0
    mujoco.mj_forward(model, data)
    pool.load(1, data)  # in free fall: no contacts
    before = pool.state.copy()
    with pytest.warns(RuntimeWarning, match="MuJoCo error.*stack"):
        pool.step(np.zeros((2, 0)), np.zeros((2, 6)), 5)
    assert pool.unstable.tolist() == [True, False]
    np.testing.assert_array_equal(pool.state[0], before[0])
    assert pool.qpos[1, 2] < 1.0  # the other one fell


@pytest.mark.parametrize("actions, message", [
    (np.full((3, 20), 5), r"shape \(4, 20\)"),
    (np.full((4, 20), 5.0), "integer bins"),
    (np.full((4, 20), np.nan), "NaN"),
    (np.full((4, 20), 11), r"\[0, 10\]"),
])
def test_bad_actions_are_refused(actions, message):
    env = make_env("none")
    env.reset()
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_continuous_actions_variant():
    env = DactylEnv(load_env_config(randomization="none", overrides={"actions": {"continuous": True}}), num_envs=2, num_threads=1)
    env.reset()
    env.step(np.full((2, 20), 1.0))
    assert np.all(env.targets >= env.nominal_model.actuator_ctrlrange[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full((2, 20), np.nan))


@pytest.mark.parametrize("threads, object_name", [(1, "block"), (2, "block"), (2, "prism")])
def test_stepping_through_state_rows_reproduces_each_simulation_exactly(threads, object_name):
    """The batch (one MjData per thread; one shared model with per-environment randomized fields, or for the
    prism, whose randomized mesh cannot vary within one model, each environment's own model) gives bit for
    bit what one MjData per randomized environment model would."""
    env = DactylEnv(load_env_config(object_name), num_envs=4, seed=0, num_threads=threads)
    env.reset()
    own = []
    for model, state in zip(env.models, env.physics.state):
        data = mujoco.MjData(model)
        mujoco.mj_setState(model, data, state, PhysicsPool.SPEC)
        own.append(data)
    rng = np.random.default_rng(0)
    for _ in range(25):  # with contacts, actuator delays and pushes on the object
        ctrl = env.motor_targets + rng.normal(0.0, 0.1, env.motor_targets.shape)
        wrench = rng.normal(0.0, 0.05, (4, 6))
        env.physics.step(ctrl, wrench, env.substeps)
        for model, data, c, w in zip(env.models, own, ctrl, wrench):
            data.ctrl[:] = c
            data.xfrc_applied[env.scene.object_body] = w
            mujoco.mj_step(model, data, nstep=env.substeps)
        np.testing.assert_array_equal(env.physics.qpos, [data.qpos for data in own])
        np.testing.assert_array_equal(env.physics.qvel, [data.qvel for data in own])
        np.testing.assert_array_equal(env.physics.sensors, [data.sensordata for data in own])
    assert not env.physics.unstable.any()
    env.close()
