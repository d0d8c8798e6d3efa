"""The simulated hardware behind the ROS graph: one randomized MuJoCo hand that takes joint targets the way
the real Shadow hand's controllers do, and reports what its sensors would.

It is built from the training environment's own parts, unchanged: the scene, the task's start state and
goal sampler, `ModelRandomizer` (physics), `ActionPerturbation` (latency, backlash, action noise),
`ObjectForces` and `ObservationNoise` (the motion-capture noise the policy was trained with). So the graph
runs in the same randomized world training ran in; `dactyl_sim.sim_node` only moves messages in and out.

Commands are absolute joint targets (Shadow convention), not policy actions. Action noise therefore acts
on the *change* of target a command asks for, in the policy's normalised units, exactly as training
perturbs an action; a repeated command (a hand holding its pose) is not perturbed, as a real hand holds;
a motor commanded to its limit goes there (tests/test_sim_hand.py steps this hand and `DactylEnv` side by side).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import mujoco
import numpy as np

from . import actions as act
from . import joints, rotations, task
from .env import BAD_STATE_WARNINGS, MAX_STABLE_SPEED, EnvConfig
from .randomization import ActionPerturbation, ModelRandomizer, ObjectForces, ObservationNoise
from .scene import FINGERS, build_scene, hold_controls


@dataclass(frozen=True)
class Measurement:
    """What motion capture would see in one control period, with the training observation noise applied."""

    fingertips: np.ndarray  # (5, 3) world, m: FF, MF, RF, LF, TH
    object_position: np.ndarray  # (3,) world, m
    object_quat: np.ndarray  # (4,) world, (w, x, y, z)
    object_markers: np.ndarray  # (M, 3) world, m: the object's marker sites at the measured pose


AT_LIMIT_TOLERANCE = 1e-3  # rad: a command this close to a limit is at it (the coupled J0 limits are pi rounded)


def at_limit(actuator_targets: np.ndarray) -> np.ndarray:
    """Which of the 20 actuator targets (model convention) sit at one of their limits."""
    return np.abs(actuator_targets[:, None] - joints.CTRL_LIMITS).min(axis=1) < AT_LIMIT_TOLERANCE


class SimulatedHand:
    """One randomized simulation stepped one physics step at a time; see the module docstring."""

    def __init__(self, config: EnvConfig, seed: int = 0):
        self.config = config
        self.scene = scene = build_scene(config.scene)
        self.model = copy.deepcopy(scene.model)  # the randomized copy; scene.model stays nominal
        self.data = mujoco.MjData(self.model)
        self.rng = np.random.default_rng(seed)
        rz = config.randomization
        self.randomizer = ModelRandomizer(scene.model, scene, rz.physics)
        self.observation_noise = ObservationNoise(rz.observation_noise, 1, scene.control_period)
        self.action_perturbation = ActionPerturbation(rz.unmodeled, 1)
        self.object_forces = ObjectForces(rz.unmodeled, 1, scene.substeps)
        m = scene.model
        self._tip_sensors = np.concatenate([np.arange(m.nsensordata)[scene.sensors[f"fingertip_pos:{f}"]] for f in FINGERS])
        self.initial_targets = scene.actuator_targets_for(scene.initial_hand_qpos)
        self.commanded = self.initial_targets.copy()  # actuator targets (model convention) last commanded
        self.targets = self.initial_targets.copy()  # after action noise
        self.motor_targets = self.initial_targets.copy()  # after backlash
        self.wrench = np.zeros(6)
        self.physics_steps = 0  # since the last reset
        self.parameters: dict[str, float] = {}
        self.reset()

    # ------------------------------------------------------------------------------------------ state

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def control_period(self) -> float:
        """Nominal; the randomized timestep makes the simulated period jitter around it, as in training."""
        return self.scene.control_period

    @property
    def substeps(self) -> int:
        return self.scene.substeps

    def joint_positions(self) -> np.ndarray:
        """(24,) Shadow convention, table order: what /joint_states reports."""
        return joints.model_to_shadow_positions(self.data.qpos[self.scene.hand_qpos])

    def joint_velocities(self) -> np.ndarray:
        return joints.model_to_shadow_positions(self.data.qvel[self.scene.hand_qvel])

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth (position, quaternion w-x-y-z); for debugging and scoring, never for control."""
        return self.scene.object_pose(self.data)

    def fingertips(self) -> np.ndarray:
        return self.data.sensordata[self._tip_sensors].reshape(5, 3).copy()

    @property
    def unstable(self) -> bool:
        """The simulation blew up (the batched environment's test, for one simulation)."""
        d = self.data
        return bool(d.warning.number[BAD_STATE_WARNINGS].any() or not np.isfinite(d.qpos).all()
                    or not np.isfinite(d.qvel).all() or np.abs(d.qvel).max() > MAX_STABLE_SPEED)

    # ---------------------------------------------------------------------------------------- control

    def reset(self) -> dict[str, float]:
        """A fresh randomization draw; hand at its start pose, object in the palm at a random face-aligned
        orientation, as the training environment starts a trial. Returns the drawn physics parameters."""
        scene, model, data = self.scene, self.model, self.data
        mask = np.ones(1, bool)
        self.parameters = self.randomizer.apply(model, self.rng)
        self.action_perturbation.reset(mask, self.rng)
        model.actuator_delay[:] = self.action_perturbation.delay_seconds(0, scene.control_period, model.opt.timestep)
        orientation = task.initial_orientations(self.rng, 1, self.config.task)[0]
        mujoco.mj_resetData(model, data)
        data.qpos[scene.hand_qpos] = scene.initial_hand_qpos
        data.qpos[scene.object_qpos] = np.concatenate([scene.initial_object_qpos[:3], orientation])
        hold_controls(model, data, self.initial_targets)
        mujoco.mj_forward(model, data)
        self.commanded[:] = self.targets[:] = self.motor_targets[:] = self.initial_targets
        self.observation_noise.reset(mask, self.rng)
        self.object_forces.reset(mask)
        self.wrench[:] = 0.0
        self.physics_steps = 0
        return dict(self.parameters)

    def command_joint_targets(self, shadow_targets: np.ndarray) -> None:
        """24 Shadow joint targets, as the trajectory controller receives them (coupled pairs via J0 = J1 + J2)."""
        self.command_motors(joints.joint_targets_to_motor_commands(shadow_targets))

    def command_motors(self, motor_commands: np.ndarray) -> None:
        """20 per-motor position commands (Shadow convention, J0 for coupled pairs)."""
        motor_commands = np.asarray(motor_commands, dtype=np.float64)
        if motor_commands.shape != (joints.NUM_ACTUATORS,) or not np.isfinite(motor_commands).all():
            raise ValueError(f"expected {joints.NUM_ACTUATORS} finite motor commands, got {motor_commands!r}")
        targets = np.clip(joints.motor_commands_to_actuator_targets(motor_commands), *joints.CTRL_LIMITS.T)
        change = targets - self.commanded
        self.commanded = targets
        if not change.any():
            return  # holding: a real hand holds exactly, so no action noise
        scale = self.config.actions.delta_scale * (joints.CTRL_LIMITS[:, 1] - joints.CTRL_LIMITS[:, 0])
        perturbed = self.action_perturbation.perturb((change / scale)[None], self.rng)[0]
        self.targets = act.apply_delta(self.targets, act.target_delta(perturbed, self.config.actions))
        # A motor commanded to its limit goes there. Training perturbs the unclipped action, so a policy that
        # keeps pushing against a limit holds the joint there; the change of a clipped command is zero, and
        # without this the per-episode bias would carry the joint away while the policy's pushes do nothing.
        self.targets = np.where(at_limit(targets), targets, self.targets)
        self.motor_targets = self.action_perturbation.through_backlash(self.motor_targets[None], self.targets[None])[0]

    def step(self) -> bool:
        """One physics step. Returns True when it completes a control period (sensors are due)."""
        if self.physics_steps % self.substeps == 0:
            mass = np.array([self.model.body_mass[self.scene.object_body]])
            self.wrench = self.object_forces.step(mass, self.rng)[0]
        self.data.ctrl[:] = self.motor_targets
        self.data.xfrc_applied[self.scene.object_body] = self.wrench
        mujoco.mj_step(self.model, self.data)
        self.physics_steps += 1
        return self.physics_steps % self.substeps == 0

    def measure(self) -> Measurement:
        """Motion capture's view of this instant, with the per-episode and per-step noise and freezing of
        training; call once per control period (the noise process advances by one period)."""
        tips, position, quat = self.observation_noise.apply(self.fingertips()[None], self.object_pose()[0][None],
                                                             self.object_pose()[1][None], self.rng)
        layout = self.model.site_pos[self.scene.object_marker_sites]  # randomized size included
        markers = position[0] + rotations.rotate(np.broadcast_to(quat[0], (len(layout), 4)), layout)
        return Measurement(tips[0].copy(), position[0].copy(), quat[0].copy(), markers)
