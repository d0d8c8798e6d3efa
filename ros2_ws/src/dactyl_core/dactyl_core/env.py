"""The batched Dactyl environment: N randomized simulations stepped together, arrays in, arrays out.

Physics: every environment keeps its own MjModel copy (its randomized physics) and its integration
state as a row of an array; MuJoCo's batch thread pool steps them on all cores (`PhysicsPool`), and
each simulation keeps its solver warm start and actuator-delay history between control steps.
Everything else is the array logic of `task`, `actions`, `observations` and `randomization`, so another
physics backend (e.g. MJX) can reuse it.
Environments reset themselves when their trial ends; the step that ends a trial returns the first
observation of the next one and reports how the finished trial ended.

    env = DactylEnv(load_env_config(), num_envs=16, seed=0)
    obs = env.reset()                    # Observations(policy (16, 50), value (16, V))
    step = env.step(actions)             # actions: (16, 20) int bins
"""
from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field

import mujoco
import numpy as np
from mujoco import batch

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
    """Steps N (randomized) models by `substeps` physics steps each, on MuJoCo's own batch thread pool.

    A thin adapter over `mujoco.batch.Batch` (MuJoCo 4): each environment's whole integration state
    (`mjSTATE_INTEGRATION`: time, qpos, qvel, actuator activations and delay history, solver warm start,
    controls, applied forces) is a row of `state`, and the batch's threads, the caller's among them, load a
    row into their MjData, step it and save it back, in C++ and without the GIL: one MjData's working set
    per thread and no Python work per environment.

    The environments' models stay the source of truth (randomization edits them, rendering reads them).
    The batch steps one shared copy of the first model with per-simulation values of just the
    `varying_fields` (MjModel names, 'opt.<name>' for MjOption's), copied from the models by `load` and
    `models_edited`: 32 whole models would not fit the caches that one does. Asset data (a rescaled mesh)
    cannot vary within one model, so with such a field each simulation steps its own model instead.
    Either way it is bit-identical to one MjData per environment model (`tests/test_env.py`).

    After `step`, `qpos`, `qvel` (views of `state`) and `sensors` hold every environment's new state.
    A simulation that blew up (non-finite state, runaway velocity, MuJoCo's own reset after a bad
    position, velocity or acceleration, or a MuJoCo error, which leaves its state as it was) is flagged in
    `unstable`.
    """

    SPEC = int(mujoco.mjtState.mjSTATE_INTEGRATION)

    def __init__(self, models: list[mujoco.MjModel], object_body: int, num_threads: int,
                 varying_fields: tuple[str, ...] = ()):
        self.models = models
        self._batch = batch.Batch(models[0], len(models), nthread=num_threads)
        try:
            self._per_simulation = {name: self._batch.expand(name) for name in varying_fields}
        except ValueError:  # asset data cannot vary within one model: step the models themselves
            self._batch = batch.Batch(models[0], len(models), nthread=num_threads)
            self._per_simulation = None
        self.models_edited()
        self.state = self._batch.state  # (N, mj_stateSize(SPEC)), the rows the batch steps
        self.qpos, self.qvel = self._batch.bind("qpos"), self._batch.bind("qvel")
        self._ctrl = self._batch.bind("ctrl")
        self._object_wrench = self._batch.bind("xfrc_applied")[:, object_body]
        self._stepped_sensors = self._batch.bind("sensordata")  # read-only, refreshed by every call
        self.sensors = np.zeros_like(self._stepped_sensors)  # also written by `load` and snapshot restores
        self._bad_state_counts = self._batch.warning[:, BAD_STATE_WARNINGS, 1]  # a view: (N, 3) warning counters
        self.unstable = np.zeros(len(models), bool)

    def load(self, i: int, data: mujoco.MjData) -> None:
        """Take environment i's state from `data` (after a reset; its model may have been re-randomized)."""
        mujoco.mj_getState(self.models[i], data, self.state[i], self.SPEC)
        self.sensors[i] = data.sensordata
        self._bad_state_counts[i] = 0
        self.unstable[i] = False
        self.models_edited([i])

    def models_edited(self, ids: range | list[int] | None = None) -> None:
        """Take the (re-randomized) models of environments `ids` (default: all) into the batch."""
        if self._per_simulation is None:
            self._batch.set_models(self.models)  # the batch's contract after a model was edited
            return
        for i in range(len(self.models)) if ids is None else ids:
            model = self.models[i]
            for name, values in self._per_simulation.items():
                values[i] = getattr(model.opt, name[4:]) if name.startswith("opt.") else getattr(model, name)

    def step(self, ctrl: np.ndarray, object_wrench: np.ndarray, substeps: int) -> None:
        self._ctrl[:] = ctrl
        self._object_wrench[:] = object_wrench
        failed = np.zeros(len(self.models), bool)
        try:
            self._batch.step(nstep=substeps)
        except batch.SimulationError as error:  # those simulations kept their state; the others ran
            failed[error.ids] = True
            warnings.warn(f"MuJoCo error, flagged unstable: {error}", RuntimeWarning, stacklevel=2)
        self.sensors[:] = self._stepped_sensors
        reset_by_mujoco = self._bad_state_counts.any(axis=1)  # MuJoCo reset these after a bad state
        self._bad_state_counts[:] = 0
        speed = np.abs(self.qvel).max(axis=1)
        finite = np.isfinite(self.qpos).all(axis=1) & np.isfinite(speed) & np.isfinite(self.sensors).all(axis=1)
        self.unstable = failed | reset_by_mujoco | ~finite | (speed > MAX_STABLE_SPEED)


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
        self.model_randomizer = ModelRandomizer(m, self.scene, config.randomization.physics)
        self.physics = PhysicsPool(self.models, self.scene.object_body, self.num_threads,
                                   varying_fields=(*self.model_randomizer.varying_fields, "actuator_delay"))
        self._reset_data = mujoco.MjData(m)  # where a reset environment is set up, then loaded into the pool
        self.rng = np.random.default_rng(seed)
        self.substeps = config.scene.physics.substeps
        self.policy_layout: ObservationLayout = POLICY_LAYOUT
        self.value_layout: ObservationLayout = value_layout(len(PARAMETER_NAMES))
        self._tip_pos = np.concatenate([np.arange(m.nsensordata)[self.scene.sensors[f"fingertip_pos:{f}"]] for f in FINGERS])
        self._tip_vel = np.concatenate([np.arange(m.nsensordata)[self.scene.sensors[f"fingertip_vel:{f}"]] for f in FINGERS])

        rz = config.randomization
        self.observation_noise = ObservationNoise(rz.observation_noise, n, self.scene.control_period)
        self.action_perturbation = ActionPerturbation(rz.unmodeled, n)
        self.object_forces = ObjectForces(rz.unmodeled, n, self.substeps)

        self.targets = np.zeros((n, m.nu))  # commanded actuator targets (model convention)
        self.motor_targets = np.zeros((n, m.nu))  # where the motors are after backlash
        self.previous_action = np.zeros((n, m.nu))  # normalised
        self.goal = np.tile(rotations.IDENTITY, (n, 1))
        self.goal_axes = np.zeros((n, 3))  # each trial's axis for nearby goals, unless every goal draws its own
        self.goal_direction = np.zeros(n, np.int64)  # task.SIGNED_AXES index of each goal's turn, as drawn
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
        finite_quat = np.where(unstable[:, None], rotations.IDENTITY, object_quat)  # a blown-up one may be NaN
        distance = np.where(unstable, self.distance, task.goal_distance(finite_quat, self.goal))
        goal_reached = task.is_success(distance, self.config.task) & ~unstable
        dropped = task.is_dropped(object_pos, self.config.task) & ~unstable
        reward = task.reward(self.distance, distance, goal_reached, dropped, self.config.task)
        reward[unstable] = 0.0
        reason = task.advance(self.counters, goal_reached, dropped, unstable, self.config.task)
        successes = self.counters.successes.copy()

        # A reached goal is replaced at once; the reward counted progress towards the old one.
        if goal_reached.any():
            self.goal[goal_reached] = task.sample_goals(self.rng, object_quat[goal_reached], self.config.task,
                                                        self.goal_axes[goal_reached])
            distance[goal_reached] = task.goal_distance(object_quat[goal_reached], self.goal[goal_reached])
            self.goal_direction[goal_reached] = task.turn_direction(object_quat[goal_reached], self.goal[goal_reached])
        self.distance = distance
        done = reason != task.RUNNING
        if done.any():
            self._reset_envs(done)
        return StepResult(self._observe(), reward, done, reason, successes, goal_reached)

    def close(self) -> None:
        """Stop the physics threads now rather than at garbage collection; the environment is unusable after."""
        self.physics = None

    # -------------------------------------------------------------------------------------- helpers

    def _reset_envs(self, mask: np.ndarray) -> None:
        """Fresh randomization, hand pose, object pose and goal for the environments in `mask`."""
        indices = np.flatnonzero(mask)
        scene = self.scene
        initial_ctrl = scene.actuator_targets_for(scene.initial_hand_qpos)
        self.action_perturbation.reset(mask, self.rng)
        orientations = task.initial_orientations(self.rng, len(indices), self.config.task)
        for i, quat in zip(indices, orientations):
            model, data = self.models[i], self._reset_data
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
        axes = task.sample_goal_axes(self.rng, len(indices), self.config.task)
        if axes is not None:
            self.goal_axes[mask] = axes
        self.goal[mask] = task.sample_goals(self.rng, orientations, self.config.task, axes)
        self.distance[mask] = task.goal_distance(orientations, self.goal[mask])
        self.goal_direction[mask] = task.turn_direction(orientations, self.goal[mask])
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
