"""The sim node's hand against the training environment: driven by the absolute targets a policy node
sends, `SimulatedHand` must execute what `DactylEnv` executes for the same actions."""
from dataclasses import replace

import mujoco
import numpy as np
import pytest

from dactyl_core import actions as act
from dactyl_core import joints
from dactyl_core.env import DactylEnv, load_env_config
from dactyl_core.sim_hand import SimulatedHand, at_limit


def deterministic_unmodeled_config():
    """Latency, backlash and per-episode action noise on; the per-step random draws (uncorrelated action
    noise, object pushes, observation noise, physics randomization) off, so both paths can be compared."""
    config = load_env_config("block", "none")
    unmodeled = replace(config.randomization.unmodeled, enabled=True, action_noise_uncorrelated=0.0,
                        object_force_probability=0.0)
    return replace(config, randomization=replace(config.randomization, unmodeled=unmodeled))


def twin(config):
    """A one-environment DactylEnv and a SimulatedHand in the same state with the same episode draws."""
    env = DactylEnv(config, 1, seed=0, num_threads=1)
    env.reset()
    hand = SimulatedHand(config, seed=0)
    for name in ("multiplicative", "additive", "backlash", "latency"):
        getattr(hand.action_perturbation, name)[:] = getattr(env.action_perturbation, name)
    hand.model.actuator_delay[:] = env.models[0].actuator_delay
    hand.data.qpos[hand.scene.object_qpos] = env.physics.qpos[0, env.scene.object_qpos]
    mujoco.mj_forward(hand.model, hand.data)
    return env, hand


def test_absolute_targets_execute_as_the_environment_executes_actions():
    """Before the at-limit rule the two parted by 0.13 rad within 60 steps: the hand let the action bias
    carry a joint off a limit that the policy kept pushing it against."""
    config = deterministic_unmodeled_config()
    env, hand = twin(config)
    assert np.abs(env.action_perturbation.additive).max() > 0 and hand.model.actuator_delay.max() > 0
    targets = np.clip(joints.joint_targets_to_actuator_targets(hand.joint_positions()), *joints.CTRL_LIMITS.T)
    np.testing.assert_allclose(targets, env.targets[0], atol=1e-12)
    rng = np.random.default_rng(1)
    pushed_at_a_limit, apart = 0, []
    moving_bins = np.array([b for b in range(config.actions.num_bins) if b != config.actions.zero_bin])
    for _ in range(100):  # the start pose has joints at their limits, and random actions push on them
        # Never the zero action: training lets the action bias drift a joint off a limit it is not pushed
        # against, which a hand that sees only a clipped (unchanging) target cannot reproduce.
        bins = rng.choice(moving_bins, (1, joints.NUM_ACTUATORS))
        env.step(bins)
        targets = act.apply_delta(targets, act.target_delta(act.normalized(bins, config.actions)[0], config.actions))
        pushed_at_a_limit += int(at_limit(targets).sum())
        hand.command_joint_targets(joints.actuator_targets_to_joint_targets(targets))
        while not hand.step():
            pass
        apart.append(np.abs(hand.targets - env.targets[0]).max())
    # Equal, except that a target pushed onto a limit gets there a step early (training's perturbed push
    # may stop a few mrad short of it): small, passing offsets. Without the rule: 0.02 rad after 20 steps,
    # 0.14 after 100, growing.
    assert np.median(apart) < 0.005 and apart[-1] < 0.01, np.round(apart, 4)
    assert pushed_at_a_limit > 10


@pytest.mark.parametrize("side", [0, 1])
def test_a_joint_commanded_to_its_limit_stays_there_whatever_the_action_bias(side):
    config = deterministic_unmodeled_config()
    hand = SimulatedHand(config, seed=0)
    hand.action_perturbation.additive[:] = 0.05 * (1 if side == 0 else -1)  # drifts away from the limit
    limit = joints.CTRL_LIMITS[:, side]
    targets = limit.copy()
    for _ in range(20):
        targets[0] = np.clip(targets[0] + (1e-3 if side == 0 else -1e-3), *joints.CTRL_LIMITS[0])  # not a bare hold
        hand.command_joint_targets(joints.actuator_targets_to_joint_targets(targets))
    held = at_limit(targets)
    assert held.sum() == joints.NUM_ACTUATORS - 1
    np.testing.assert_allclose(hand.targets[held], limit[held], atol=1e-3)
