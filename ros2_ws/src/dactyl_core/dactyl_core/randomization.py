"""Domain randomization: physics, observation noise and unmodeled effects, each a switchable group of
named terms with ranges from YAML (config/randomization.yaml).

* `ModelRandomizer` rewrites one environment's MjModel copy at every episode start: it first restores the
  nominal values of every field it touches, then applies a fresh draw, so nothing ever drifts.
* `ObservationNoise` corrupts what the policy observes: a correlated offset drawn per episode plus fresh
  noise each step, and motion-capture freezing (a marker-derived key holds its last value for a while).
* `ActionPerturbation` and `ObjectForces` are the unmodeled effects: per-actuator latency, backlash,
  action noise, and random decaying forces and torques on the object.

All of them work on batches of N environments with one numpy Generator, so runs are repeatable.
The four switches reproduce the paper's ablations (see `PRESETS`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from . import rotations
from .config import ConfigError, check_nonnegative, check_range, load
from .joints import NUM_ACTUATORS

CONFIG_FILE = Path(__file__).resolve().parent / "config" / "randomization.yaml"
Range = tuple[float, float]


@dataclass(frozen=True)
class PhysicsRandomization:
    enabled: bool = True
    object_size_scale: Range = (0.95, 1.05)  # uniform, all object dimensions
    object_mass_scale: Range = (0.5, 1.5)  # uniform, on top of the size change (mass and inertia)
    link_mass_scale: Range = (0.5, 1.5)  # uniform, per hand link (mass and inertia)
    hand_friction_scale: Range = (0.7, 1.3)  # uniform, sliding friction of the hand's collision geoms
    object_friction_scale: Range = (0.5, 1.5)  # uniform, sliding friction of the object
    spin_roll_friction_scale: Range = (0.3, 3.0)  # log-uniform, torsional and rolling friction, hand and object
    joint_damping_scale: Range = (0.6667, 1.5)  # log-uniform, per hand joint
    actuator_kp_scale: Range = (0.5, 2.0)  # log-uniform, per actuator (gain and bias together)
    joint_limit_sigma: float = 0.15  # relative, per limit of each hand joint
    tendon_range_sigma: float = 0.15  # relative, per limit of each fixed tendon
    gravity_sigma: float = 0.4  # m/s^2, added per axis
    timestep_scale: Range = (0.95, 1.05)  # uniform: the control period jitters with it

    def __post_init__(self):
        for name in ("object_size_scale", "object_mass_scale", "link_mass_scale", "hand_friction_scale",
                     "object_friction_scale", "spin_roll_friction_scale", "joint_damping_scale", "actuator_kp_scale",
                     "timestep_scale"):
            check_range(f"physics.{name}", getattr(self, name), positive=True)
        for name in ("joint_limit_sigma", "tendon_range_sigma", "gravity_sigma"):
            check_nonnegative(f"physics.{name}", getattr(self, name))


@dataclass(frozen=True)
class NoiseTerm:
    correlated: float  # standard deviation of an offset drawn once per episode
    uncorrelated: float  # standard deviation of fresh noise every control step

    def __post_init__(self):
        check_nonnegative("noise.correlated", self.correlated)
        check_nonnegative("noise.uncorrelated", self.uncorrelated)


@dataclass(frozen=True)
class ObservationNoiseConfig:
    enabled: bool = True
    fingertip_pos: NoiseTerm = NoiseTerm(0.001, 0.002)  # m
    object_pos: NoiseTerm = NoiseTerm(0.005, 0.001)  # m
    object_rot: NoiseTerm = NoiseTerm(0.1, 0.09)  # rad, random rotation about a random axis
    marker_noise: float = 0.003  # m, per raw motion-capture marker (the sim node's markers topic)
    fingertip_freeze_rate: float = 0.2  # per second, per fingertip: its markers stop updating
    object_freeze_rate: float = 0.02  # per second: the object's pose stops updating
    freeze_duration: Range = (0.08, 1.0)  # s, uniform

    def __post_init__(self):
        for name in ("marker_noise", "fingertip_freeze_rate", "object_freeze_rate"):
            check_nonnegative(f"observation_noise.{name}", getattr(self, name))
        check_range("observation_noise.freeze_duration", self.freeze_duration, nonnegative=True)


@dataclass(frozen=True)
class UnmodeledConfig:
    enabled: bool = True
    max_action_latency: float = 1.0  # control steps; per actuator, uniform in [0, max], drawn per episode
    backlash: float = 0.01  # rad, nominal dead band of each motor
    backlash_log_sigma: float = 0.1  # per actuator, log-normal around the nominal
    action_noise_multiplicative: float = 0.03  # per episode and actuator: a -> a * (1 + m)
    action_noise_additive: float = 0.03  # per episode and actuator, in normalised action units
    action_noise_uncorrelated: float = 0.1  # every step, in normalised action units
    object_force_probability: float = 0.1  # per control step: a new random push starts
    object_force_sigma: float = 1.0  # N per kg of object mass (an acceleration, m/s^2)
    object_torque_sigma: float = 0.002  # N m per kg of object mass
    object_force_decay: float = 0.99  # per physics step

    def __post_init__(self):
        if not 0.0 <= self.max_action_latency <= 1.0:
            raise ConfigError(f"unmodeled.max_action_latency: {self.max_action_latency} must be in [0, 1] control steps")
        if not 0.0 <= self.object_force_probability <= 1.0:
            raise ConfigError(f"unmodeled.object_force_probability: {self.object_force_probability} must be in [0, 1]")
        if not 0.0 <= self.object_force_decay <= 1.0:
            raise ConfigError(f"unmodeled.object_force_decay: {self.object_force_decay} must be in [0, 1]")
        for name in ("backlash", "backlash_log_sigma", "action_noise_multiplicative", "action_noise_additive",
                     "action_noise_uncorrelated", "object_force_sigma", "object_torque_sigma"):
            check_nonnegative(f"unmodeled.{name}", getattr(self, name))


@dataclass(frozen=True)
class RandomizationConfig:
    physics: PhysicsRandomization = field(default_factory=PhysicsRandomization)
    observation_noise: ObservationNoiseConfig = field(default_factory=ObservationNoiseConfig)
    unmodeled: UnmodeledConfig = field(default_factory=UnmodeledConfig)


#: The paper's ablation environments (Table 4): which groups are switched on.
PRESETS = {
    "all": dict(physics=True, observation_noise=True, unmodeled=True),
    "none": dict(physics=False, observation_noise=False, unmodeled=False),
    "no-obs-noise": dict(physics=True, observation_noise=False, unmodeled=True),
    "no-physics": dict(physics=False, observation_noise=True, unmodeled=True),
    "no-unmodeled": dict(physics=True, observation_noise=True, unmodeled=False),
}


def load_randomization_config(source=None) -> RandomizationConfig:
    return load(RandomizationConfig, CONFIG_FILE if source is None else source)


def apply_preset(config: RandomizationConfig, preset: str) -> RandomizationConfig:
    if preset not in PRESETS:
        raise ConfigError(f"unknown randomization setting {preset!r}; expected one of {list(PRESETS)}")
    switches = PRESETS[preset]
    return RandomizationConfig(**{group: dataclasses.replace(getattr(config, group), enabled=on) for group, on in switches.items()})


#: The randomization parameters the value function sees, in order (nominal values when a group is off).
PARAMETER_NAMES = (
    "object_size_scale", "object_mass_scale", "link_mass_scale_mean", "hand_friction_scale",
    "object_friction_scale", "spin_roll_friction_scale", "log_joint_damping_scale_mean",
    "log_actuator_kp_scale_mean", "gravity_offset_x", "gravity_offset_y", "gravity_offset_z", "timestep_scale",
    "action_latency_mean", "backlash_mean", "object_force_norm",
)
NOMINAL_PARAMETERS = dict(zip(PARAMETER_NAMES, (1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0)))


def _uniform(rng, bounds: Range, size=None):
    return rng.uniform(bounds[0], bounds[1], size)


def _log_uniform(rng, bounds: Range, size=None):
    return np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]), size))


class ModelRandomizer:
    """Physics randomization of one scene's model copies; always from the nominal model."""

    # MjModel fields this class may change; restored from the nominal model before every draw.
    FIELDS = ("geom_size", "geom_pos", "geom_rbound", "geom_aabb", "geom_friction", "mesh_vert", "site_pos",
              "body_mass", "body_inertia", "dof_damping", "actuator_gainprm", "actuator_biasprm", "jnt_range",
              "tendon_range")

    def __init__(self, nominal: mujoco.MjModel, scene, config: PhysicsRandomization):
        self.config = config
        self.nominal = {name: getattr(nominal, name).copy() for name in self.FIELDS}
        self.nominal_gravity = nominal.opt.gravity.copy()
        self.nominal_timestep = float(nominal.opt.timestep)
        m = nominal
        self.object_body = scene.object_body
        self.object_geoms = np.flatnonzero(m.geom_bodyid == scene.object_body)
        self.object_collision_geom = m.geom("object").id
        mesh_ids = [m.geom_dataid[g] for g in self.object_geoms if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH]
        self.object_mesh_verts = np.concatenate(
            [np.arange(m.mesh_vertadr[i], m.mesh_vertadr[i] + m.mesh_vertnum[i]) for i in sorted(set(mesh_ids))]
        ) if mesh_ids else np.zeros(0, int)
        self.object_sites = np.flatnonzero(m.site_bodyid == scene.object_body)
        hand_root = m.body("robot0:hand mount").id
        self.hand_bodies = np.array([b for b in range(m.nbody) if b != hand_root and _descends_from(m, b, hand_root)])
        self.hand_collision_geoms = np.array([g for g in range(m.ngeom)
                                              if m.geom_bodyid[g] in set(self.hand_bodies) and m.geom_contype[g] > 0])
        self.hand_dofs = scene.hand_qvel
        self.hand_joints = np.array([m.jnt_dofadr.tolist().index(d) for d in scene.hand_qvel])

    @property
    def varying_fields(self) -> tuple[str, ...]:
        """The fields `apply` can change in this scene ('opt.<name>' for MjOption fields)."""
        fields = [name for name in self.FIELDS if name != "mesh_vert" or len(self.object_mesh_verts)]
        return (*fields, "opt.gravity", "opt.timestep")

    def restore(self, model: mujoco.MjModel) -> None:
        for name, value in self.nominal.items():
            getattr(model, name)[:] = value
        model.opt.gravity[:] = self.nominal_gravity
        model.opt.timestep = self.nominal_timestep

    def apply(self, model: mujoco.MjModel, rng: np.random.Generator) -> dict[str, float]:
        """Restore nominal values, then (if enabled) apply a fresh draw. Returns the drawn parameters."""
        self.restore(model)
        params = dict(NOMINAL_PARAMETERS)
        if not self.config.enabled:
            return params
        c = self.config
        # Object: size (geometry, markers, inertia with it), then mass.
        size = _uniform(rng, c.object_size_scale)
        mass = _uniform(rng, c.object_mass_scale)
        g = self.object_geoms
        model.geom_size[g] *= size
        model.geom_pos[g] *= size
        model.geom_rbound[g] *= size
        model.geom_aabb[g] *= size
        model.mesh_vert[self.object_mesh_verts] *= size
        model.site_pos[self.object_sites] *= size
        model.body_mass[self.object_body] *= size ** 3 * mass
        model.body_inertia[self.object_body] *= size ** 5 * mass
        # Hand links.
        link = _uniform(rng, c.link_mass_scale, len(self.hand_bodies))
        model.body_mass[self.hand_bodies] *= link
        model.body_inertia[self.hand_bodies] *= link[:, None]
        # Friction: sliding per side, torsional/rolling shared.
        hand_friction = _uniform(rng, c.hand_friction_scale)
        object_friction = _uniform(rng, c.object_friction_scale)
        spin_roll = _log_uniform(rng, c.spin_roll_friction_scale)
        model.geom_friction[self.hand_collision_geoms, 0] *= hand_friction
        model.geom_friction[self.object_collision_geom, 0] *= object_friction
        model.geom_friction[self.hand_collision_geoms, 1:] *= spin_roll
        model.geom_friction[self.object_collision_geom, 1:] *= spin_roll
        # Joints and actuators.
        damping = _log_uniform(rng, c.joint_damping_scale, len(self.hand_dofs))
        model.dof_damping[self.hand_dofs] *= damping
        kp = _log_uniform(rng, c.actuator_kp_scale, model.nu)
        model.actuator_gainprm[:, 0] *= kp
        model.actuator_biasprm[:, 1] *= kp  # a position actuator's bias is -kp * q
        limits = np.clip(1.0 + c.joint_limit_sigma * rng.standard_normal((len(self.hand_joints), 2)), 0.5, 1.5)
        model.jnt_range[self.hand_joints] *= limits
        tendons = np.clip(1.0 + c.tendon_range_sigma * rng.standard_normal((model.ntendon, 2)), 0.5, 1.5)
        model.tendon_range[:] *= tendons
        gravity = c.gravity_sigma * rng.standard_normal(3)
        model.opt.gravity[:] += gravity
        timestep = _uniform(rng, c.timestep_scale)
        model.opt.timestep = self.nominal_timestep * timestep
        params.update(object_size_scale=size, object_mass_scale=mass, link_mass_scale_mean=float(link.mean()),
                      hand_friction_scale=hand_friction, object_friction_scale=object_friction,
                      spin_roll_friction_scale=spin_roll, log_joint_damping_scale_mean=float(np.log(damping).mean()),
                      log_actuator_kp_scale_mean=float(np.log(kp).mean()), gravity_offset_x=gravity[0],
                      gravity_offset_y=gravity[1], gravity_offset_z=gravity[2], timestep_scale=timestep)
        return params


def _descends_from(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body > 0:
        if body == ancestor:
            return True
        body = model.body_parentid[body]
    return False


class ObservationNoise:
    """Correlated + uncorrelated noise and motion-capture freezing for N environments."""

    def __init__(self, config: ObservationNoiseConfig, num_envs: int, control_period: float):
        self.config = config
        self.dt = control_period
        n = num_envs
        self.fingertip_offset = np.zeros((n, 5, 3))
        self.object_offset = np.zeros((n, 3))
        self.rotation_offset = np.tile(rotations.IDENTITY, (n, 1))
        self.frozen_steps = np.zeros((n, 6), np.int64)  # 5 fingertips + the object pose
        self.held_fingertips = np.zeros((n, 5, 3))
        self.held_object_pos = np.zeros((n, 3))
        self.held_object_quat = np.tile(rotations.IDENTITY, (n, 1))
        self.freeze_rates = np.array([config.fingertip_freeze_rate] * 5 + [config.object_freeze_rate])  # per s

    def reset(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        k = int(mask.sum())
        c = self.config
        self.frozen_steps[mask] = 0
        if not c.enabled:
            return
        self.fingertip_offset[mask] = c.fingertip_pos.correlated * rng.standard_normal((k, 5, 3))
        self.object_offset[mask] = c.object_pos.correlated * rng.standard_normal((k, 3))
        self.rotation_offset[mask] = small_rotation(rng, c.object_rot.correlated, k)

    def apply(self, fingertip_pos, object_pos, object_quat, rng: np.random.Generator):
        """Noisy copies of the motion-capture-derived observations (inputs are not modified)."""
        c = self.config
        if not c.enabled:
            return fingertip_pos, object_pos, object_quat
        n = len(object_pos)
        fingertips = fingertip_pos + self.fingertip_offset + c.fingertip_pos.uncorrelated * rng.standard_normal((n, 5, 3))
        position = object_pos + self.object_offset + c.object_pos.uncorrelated * rng.standard_normal((n, 3))
        quat = rotations.multiply(small_rotation(rng, c.object_rot.uncorrelated, n),
                                  rotations.multiply(self.rotation_offset, object_quat))
        # Freezing: a frozen key repeats what it showed when it froze.
        starting = (self.frozen_steps == 0) & (rng.random((n, 6)) < self.freeze_rates * self.dt)
        durations = np.maximum(1, np.round(rng.uniform(*c.freeze_duration, (n, 6)) / self.dt)).astype(np.int64)
        frozen = self.frozen_steps > 0
        fingertips = np.where(frozen[:, :5, None], self.held_fingertips, fingertips)
        position = np.where(frozen[:, 5:], self.held_object_pos, position)
        quat = np.where(frozen[:, 5:], self.held_object_quat, quat)
        self.held_fingertips[:] = fingertips
        self.held_object_pos[:] = position
        self.held_object_quat[:] = quat
        self.frozen_steps = np.where(frozen, self.frozen_steps - 1, np.where(starting, durations, 0))
        return fingertips, position, quat


def small_rotation(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Random rotations with angle ~ |N(0, sigma)| about uniformly random axes."""
    axis = rng.standard_normal((n, 3))
    return rotations.from_axis_angle(axis, sigma * rng.standard_normal(n))


class ActionPerturbation:
    """Per-actuator action noise, backlash and latency for N environments.

    Latency is realised by MuJoCo's actuator delay (the model keeps a short history of commands), so an
    actuator acts on the command it received `latency` control steps ago, in whole physics steps.
    """

    def __init__(self, config: UnmodeledConfig, num_envs: int):
        self.config = config
        n = num_envs
        self.multiplicative = np.zeros((n, NUM_ACTUATORS))
        self.additive = np.zeros((n, NUM_ACTUATORS))
        self.backlash = np.zeros((n, NUM_ACTUATORS))
        self.latency = np.zeros((n, NUM_ACTUATORS))  # in control steps

    def reset(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        c = self.config
        k = int(mask.sum())
        if not c.enabled:
            for array in (self.multiplicative, self.additive, self.backlash, self.latency):
                array[mask] = 0.0
            return
        self.multiplicative[mask] = c.action_noise_multiplicative * rng.standard_normal((k, NUM_ACTUATORS))
        self.additive[mask] = c.action_noise_additive * rng.standard_normal((k, NUM_ACTUATORS))
        self.backlash[mask] = c.backlash * np.exp(c.backlash_log_sigma * rng.standard_normal((k, NUM_ACTUATORS)))
        self.latency[mask] = rng.uniform(0.0, c.max_action_latency, (k, NUM_ACTUATORS))

    def delay_seconds(self, env: int, control_period: float, timestep: float) -> np.ndarray:
        """The actuator delays for one environment, rounded to whole physics steps."""
        return np.round(self.latency[env] * control_period / timestep) * timestep

    def perturb(self, normalized_action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.config.enabled:
            return normalized_action
        noise = self.config.action_noise_uncorrelated * rng.standard_normal(normalized_action.shape)
        return normalized_action * (1.0 + self.multiplicative) + self.additive + noise

    def through_backlash(self, motor: np.ndarray, command: np.ndarray) -> np.ndarray:
        """Where each motor ends up: it only moves once the command leaves its dead band."""
        half = 0.5 * self.backlash
        return np.clip(motor, command - half, command + half)

    def parameters(self) -> dict[str, np.ndarray]:
        return {"action_latency_mean": self.latency.mean(axis=1), "backlash_mean": self.backlash.mean(axis=1)}


class ObjectForces:
    """Random pushes on the object that decay over time, for N environments."""

    def __init__(self, config: UnmodeledConfig, num_envs: int, substeps: int):
        self.config = config
        self.substeps = substeps  # the wrench decays per physics step and is held within a control step
        self.wrench = np.zeros((num_envs, 6))
        self.sigmas = np.array([config.object_force_sigma] * 3 + [config.object_torque_sigma] * 3)  # per kg

    def reset(self, mask: np.ndarray) -> None:
        self.wrench[mask] = 0.0

    def step(self, object_mass: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The wrench (force, torque; world frame) to hold during the next control step, (N, 6)."""
        c = self.config
        if not c.enabled:
            return self.wrench
        n = len(self.wrench)
        self.wrench *= c.object_force_decay ** self.substeps
        push = rng.random(n) < c.object_force_probability
        new = rng.standard_normal((n, 6)) * self.sigmas * object_mass[:, None]
        self.wrench[push] += new[push]
        return self.wrench
