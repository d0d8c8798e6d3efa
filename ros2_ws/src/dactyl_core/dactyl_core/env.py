"""The batched Dactyl environment: N randomized simulations stepped together, arrays in, arrays out.

Physics: every environment keeps its own MjModel copy (its randomized physics) and its integration
state as a row of an array; a pool of threads, one MjData each, steps them (`PhysicsPool`), since
`mj_step` releases the GIL, so all cores work, and each simulation keeps its solver warm start and
actuator-delay history between control steps. Everything else is the array logic of `task`, `actions`,
`observations` and `randomization`, so another physics backend (e.g. MJX) can reuse it.
Environments reset themselves when their trial ends; the step that ends a trial returns the first
observation of the next one and reports how the finished trial ended.

    env = DactylEnv(load_env_config(), num_envs=16, seed=0)
    obs = env.reset()                    # Observations(policy (16, 50), value (16, V))
    step = env.step(actions)             # actions: (16, 20) int bins
"""
from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import mujoco
import numpy as np

from . import actions as act
from . import rotations, task
from .config import load, merge
from .observations import POLICY_LAYOUT, ObservationLayout, policy_observation, value_layout
from .randomization import (PARAMETER_NAMES, ActionPerturbation, ModelRandomizer, ObjectForces, ObservationNoise,
                            RandomizationConfig, apply_preset, load_randomization_config)
from .scene import CONFIG_DIR, FINGERS, SceneConfig, build_scene, hold_controls, load_scene_config

BAD_STATE_WARNINGS = slice(int(mujoco.mjtWarning.mjWARN_BADQPOS), int(mujoco.mjtWarning.mjWARN_BADQACC) + 1)
MAX_STABLE_SPEED = 100.0  # rad/s or m/s: any generalized velocity beyond this is a blown-up simulation


@dataclass(frozen=True)
class EnvConfig:
    scene: SceneConfig = field(default_factory=SceneConfig)
    task: task.TaskConfig = field(default_factory=task.TaskConfig)
    actions: act.ActionConfig = field(default_factory=act.ActionConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)


def load_env_config(object_name: str | None = None, randomization: str | None = None, overrides: dict | None = None) -> EnvConfig:
    """The shipped YAML defaults, optionally for another object, a randomization preset, and overrides."""
    config = EnvConfig(
        scene=load_scene_config(),
        task=load(task.TaskConfig, CONFIG_DIR / "task.yaml"),
        actions=load(act.ActionConfig, CONFIG_DIR / "actions.yaml"),
        randomization=load_randomization_config(),
    )
    config = merge(config, overrides, "env overrides")
    if object_name is not None:
        config = merge(config, {"scene": {"object": object_name}})
    if randomization is not None:
        config = EnvConfig(config.scene, config.task, config.actions, apply_preset(config.randomization, randomization))
    return config


@dataclass
class Observations:
    policy: np.ndarray  # (N, POLICY_LAYOUT.size), noisy: what the robot would measure
    value: np.ndarray  # (N, value_layout.size), noiseless and privileged


@dataclass
class StepResult:
    observations: Observations
    reward: np.ndarray  # (N,)
    done: np.ndarray  # (N,) bool: a trial ended on this step (the observation is already the next trial's)
    done_reason: np.ndarray  # (N,) task.RUNNING, DROPPED, TIMED_OUT, MAX_SUCCESSES or UNSTABLE
    successes: np.ndarray  # (N,) consecutive successes of the trial (of the finished trial where done)
    goal_reached: np.ndarray  # (N,) bool: a goal was reached on this step


class PhysicsPool:
    """Steps N (randomized) models by `substeps` physics steps each, split across threads.

    Each environment's whole integration state (`mjSTATE_INTEGRATION`: time, qpos, qvel, actuator
    activations and delay history, solver warm start, controls, applied forces) is a row of `state`.
    Each thread owns one MjData: for every environment it loads the row, steps, and saves the row back,
    which reproduces the environment's own trajectory exactly (`tests/test_env.py`). One MjData per
    thread instead of one per environment shrinks the working set, and each environment costs a few
    binding calls and one row copy per step, with no numpy reductions: any numpy call right after
    `mj_step` is slow (mj_step has just evicted the interpreter's and numpy's code from the caches).

    After `step`, `qpos`, `qvel` (views of `state`) and `sensors` hold every environment's new state.
    A simulation that blew up (non-finite state, runaway velocity, or MuJoCo's own reset after a bad
    position, velocity or acceleration) is flagged in `unstable`.
    """

    SPEC = int(mujoco.mjtState.mjSTATE_INTEGRATION)

    def __init__(self, models: list[mujoco.MjModel], object_body: int, num_threads: int):
        self.models = models
        n, m = len(models), models[0]
        self.state = np.zeros((n, mujoco.mj_stateSize(m, self.SPEC)))
        self.sensors = np.zeros((n, m.nsensordata))
        self.unstable = np.zeros(n, bool)
        self._qpos = self._component(m, mujoco.mjtState.mjSTATE_QPOS)
        self._qvel = self._component(m, mujoco.mjtState.mjSTATE_QVEL)
        self._ctrl = self._component(m, mujoco.mjtState.mjSTATE_CTRL)
        xfrc = self._component(m, mujoco.mjtState.mjSTATE_XFRC_APPLIED)
        self._object_wrench = slice(xfrc.start + 6 * object_body, xfrc.start + 6 * object_body + 6)
        self._rows = list(self.state)  # row views, made once
        self._chunks = [c for c in np.array_split(np.arange(n), num_threads) if len(c)]
        self._datas = [mujoco.MjData(m) for _ in self._chunks]
        self.scratch = self._datas[0]  # for setting up an environment between steps; see `load`
        self._executor = ThreadPoolExecutor(len(self._chunks)) if len(self._chunks) > 1 else None

    @classmethod
    def _component(cls, model: mujoco.MjModel, part: mujoco.mjtState) -> slice:
        """Where one component sits in a state vector: components are stored in the order of their bits."""
        start = mujoco.mj_stateSize(model, cls.SPEC & (int(part) - 1))
        return slice(start, start + mujoco.mj_stateSize(model, int(part)))

    @property
    def qpos(self) -> np.ndarray:
        return self.state[:, self._qpos]

    @property
    def qvel(self) -> np.ndarray:
        return self.state[:, self._qvel]

    def load(self, i: int, data: mujoco.MjData) -> None:
        """Take environment i's state from `data` (after a reset)."""
        mujoco.mj_getState(self.models[i], data, self._rows[i], self.SPEC)
        self.sensors[i] = data.sensordata
        self.unstable[i] = False

    def step(self, ctrl: np.ndarray, object_wrench: np.ndarray, substeps: int) -> None:
        self.state[:, self._ctrl] = ctrl
        self.state[:, self._object_wrench] = object_wrench
        unstable = np.zeros(len(self.models), bool)

        def run(chunk, data):
            sensors, bad = data.sensordata, data.warning.number[BAD_STATE_WARNINGS]
            for i in chunk:
                model, row = self.models[i], self._rows[i]
                mujoco.mj_setState(model, data, row, self.SPEC)
                mujoco.mj_step(model, data, nstep=substeps)
                if bad[0] or bad[1] or bad[2]:  # MuJoCo has reset this simulation after a bad state
                    unstable[i] = True
                    bad[:] = 0
                mujoco.mj_getState(model, data, row, self.SPEC)
                self.sensors[i] = sensors

        if self._executor is None:
            run(self._chunks[0], self._datas[0])
        else:
            list(self._executor.map(run, self._chunks, self._datas))
        speed = np.abs(self.qvel).max(axis=1)
        unstable |= ~(np.isfinite(self.state).all(axis=1) & np.isfinite(speed) & np.isfinite(self.sensors).all(axis=1))
        self.unstable = unstable | (speed > MAX_STABLE_SPEED)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()


class DactylEnv:
    def __init__(self, config: EnvConfig, num_envs: int, seed: int = 0, num_threads: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.config = config
        self.num_envs = n = num_envs
        self.scene = build_scene(config.scene, physics_only=True)  # never rendered
        self.nominal_model = m = self.scene.model
        self.models = [copy.deepcopy(m) for _ in range(n)]
        self.num_threads = max(1, min(num_threads or os.cpu_count() or 1, n))
        self.physics = PhysicsPool(self.models, self.scene.object_body, self.num_threads)
        self.rng = np.random.default_rng(seed)
        self.substeps = config.scene.physics.substeps
        self.policy_layout: ObservationLayout = POLICY_LAYOUT
        self.value_layout: ObservationLayout = value_layout(len(PARAMETER_NAMES))
        self._tip_pos = np.concatenate([np.arange(m.nsensordata)[self.scene.sensors[f"fingertip_pos:{f}"]] for f in FINGERS])
        self._tip_vel = np.concatenate([np.arange(m.nsensordata)[self.scene.sensors[f"fingertip_vel:{f}"]] for f in FINGERS])

        rz = config.randomization
        self.model_randomizer = ModelRandomizer(m, self.scene, rz.physics)
        self.observation_noise = ObservationNoise(rz.observation_noise, n, self.scene.control_period)
        self.action_perturbation = ActionPerturbation(rz.unmodeled, n)
        self.object_forces = ObjectForces(rz.unmodeled, n, self.substeps)

        self.targets = np.zeros((n, m.nu))  # commanded actuator targets (model convention)
        self.motor_targets = np.zeros((n, m.nu))  # where the motors are after backlash
        self.previous_action = np.zeros((n, m.nu))  # normalised
        self.goal = np.tile(rotations.IDENTITY, (n, 1))
        self.distance = np.zeros(n)
        self.counters = task.TrialCounters.zeros(n)
        self.object_mass = np.zeros(n)
        self.parameters = np.zeros((n, len(PARAMETER_NAMES)))

    # ----------------------------------------------------------------------------------------- API

    def reset(self) -> Observations:
        self._reset_envs(np.ones(self.num_envs, bool))
        return self._observe()

    def step(self, actions: np.ndarray) -> StepResult:
        actions = act.validate_actions(actions, self.num_envs, self.config.actions)
        normalized = act.normalized(actions, self.config.actions)
        perturbed = self.action_perturbation.perturb(normalized, self.rng)
        self.targets = act.apply_delta(self.targets, act.target_delta(perturbed, self.config.actions))
        self.motor_targets = self.action_perturbation.through_backlash(self.motor_targets, self.targets)
        wrench = self.object_forces.step(self.object_mass, self.rng)
        self.physics.step(self.motor_targets, wrench, self.substeps)
        self.previous_action = normalized

        unstable = self.physics.unstable.copy()
        object_qpos = self.physics.qpos[:, self.scene.object_qpos]
        object_pos, object_quat = object_qpos[:, :3], object_qpos[:, 3:]
        distance = np.where(unstable, self.distance, task.goal_distance(np.nan_to_num(object_quat), self.goal))
        goal_reached = task.is_success(distance, self.config.task) & ~unstable
        dropped = task.is_dropped(object_pos, self.config.task) & ~unstable
        reward = task.reward(self.distance, distance, goal_reached, dropped, self.config.task)
        reward[unstable] = 0.0
        reason = task.advance(self.counters, goal_reached, dropped, unstable, self.config.task)
        successes = self.counters.successes.copy()

        # A reached goal is replaced at once; the reward counted progress towards the old one.
        if goal_reached.any():
            self.goal[goal_reached] = task.sample_goals(self.rng, int(goal_reached.sum()), self.config.task.goal_mode)
            distance[goal_reached] = task.goal_distance(object_quat[goal_reached], self.goal[goal_reached])
        self.distance = distance
        done = reason != task.RUNNING
        if done.any():
            self._reset_envs(done)
        return StepResult(self._observe(), reward, done, reason, successes, goal_reached)

    def close(self) -> None:
        self.physics.close()

    # -------------------------------------------------------------------------------------- helpers

    def _reset_envs(self, mask: np.ndarray) -> None:
        """Fresh randomization, hand pose, object pose and goal for the environments in `mask`."""
        indices = np.flatnonzero(mask)
        scene = self.scene
        initial_ctrl = scene.actuator_targets_for(scene.initial_hand_qpos)
        self.action_perturbation.reset(mask, self.rng)
        orientations = task.sample_goals(self.rng, len(indices), self.config.task.goal_mode)
        for i, quat in zip(indices, orientations):
            model, data = self.models[i], self.physics.scratch
            physics = self.model_randomizer.apply(model, self.rng)
            model.actuator_delay[:] = self.action_perturbation.delay_seconds(i, scene.control_period, model.opt.timestep)
            self.parameters[i] = [physics[name] for name in PARAMETER_NAMES]
            self.object_mass[i] = model.body_mass[scene.object_body]
            mujoco.mj_resetData(model, data)
            data.qpos[scene.hand_qpos] = scene.initial_hand_qpos
            data.qpos[scene.object_qpos] = np.concatenate([scene.initial_object_qpos[:3], quat])
            hold_controls(model, data, initial_ctrl)
            mujoco.mj_forward(model, data)
            self.physics.load(i, data)
        self.targets[mask] = initial_ctrl
        self.motor_targets[mask] = initial_ctrl
        self.previous_action[mask] = 0.0
        self.goal[mask] = task.sample_goals(self.rng, len(indices), self.config.task.goal_mode)
        self.distance[mask] = task.goal_distance(orientations, self.goal[mask])
        self.counters.reset(mask)
        self.observation_noise.reset(mask, self.rng)
        self.object_forces.reset(mask)
        unmodeled = self.action_perturbation.parameters()
        self.parameters[mask, PARAMETER_NAMES.index("action_latency_mean")] = unmodeled["action_latency_mean"][mask]
        self.parameters[mask, PARAMETER_NAMES.index("backlash_mean")] = unmodeled["backlash_mean"][mask]

    def _observe(self) -> Observations:
        n = self.num_envs
        qpos, qvel, sensors = self.physics.qpos, self.physics.qvel, self.physics.sensors
        fingertips = sensors[:, self._tip_pos].reshape(n, 5, 3)
        object_pos = qpos[:, self.scene.object_qpos][:, :3]
        object_quat = qpos[:, self.scene.object_qpos][:, 3:]
        noisy = self.observation_noise.apply(fingertips, object_pos, object_quat, self.rng)
        # The noisy (policy) and exact (value) vectors in one call, stacked on a leading axis: half the overhead.
        measured = [np.stack(pair) for pair in zip(noisy, (fingertips, object_pos, object_quat))]
        policy, exact = policy_observation(*measured, np.broadcast_to(self.goal, (2, *self.goal.shape)),
                                           np.broadcast_to(self.previous_action, (2, *self.previous_action.shape)))
        parameters = self.parameters.copy()
        parameters[:, PARAMETER_NAMES.index("object_force_norm")] = np.linalg.norm(self.object_forces.wrench[:, :3], axis=1)
        value = self.value_layout.assemble({
            **self.policy_layout.split(exact),
            "joint_pos": qpos[:, self.scene.hand_qpos],
            "joint_vel": qvel[:, self.scene.hand_qvel],
            "object_linvel": qvel[:, self.scene.object_qvel][:, :3],
            "object_angvel": qvel[:, self.scene.object_qvel][:, 3:],
            "fingertip_vel": sensors[:, self._tip_vel],
            "randomization": parameters,
        })
        return Observations(policy.astype(np.float32), value.astype(np.float32))
