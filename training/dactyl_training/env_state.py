"""Save and restore a batched environment mid-trial, compactly, so that `--resume` continues exactly.

Pickling the whole environment would store every MuJoCo model with its meshes (tens of MB per
environment). Instead we keep what differs from a freshly built environment of the same config:
each simulation's integration state (its row of `PhysicsPool.state`: mj_getState's
mjSTATE_INTEGRATION, actuator-delay history included), the model fields domain randomization
rewrites, and the environment's own small arrays and generators.
"""
from __future__ import annotations

import mujoco
import numpy as np

from dactyl_core.env import DactylEnv, PhysicsPool
from dactyl_core.randomization import ModelRandomizer

MODEL_FIELDS = (*ModelRandomizer.FIELDS, "actuator_delay")
HEAVY_ATTRIBUTES = {"scene", "nominal_model", "models", "physics", "model_randomizer", "_reset_data"}


def snapshot_env(env: DactylEnv) -> dict:
    nominal = env.nominal_model
    models = []
    for model in env.models:
        fields = {name: getattr(model, name).copy() for name in MODEL_FIELDS
                  if not np.array_equal(getattr(model, name), getattr(nominal, name))}
        models.append({"fields": fields, "gravity": model.opt.gravity.copy(), "timestep": float(model.opt.timestep)})
    states = list(env.physics.state.copy())
    physics = {name: getattr(env.physics, name).copy() for name in ("sensors", "unstable")}
    rest = {k: v for k, v in env.__dict__.items() if k not in HEAVY_ATTRIBUTES}
    return {"num_envs": env.num_envs, "models": models, "states": states, "physics": physics, "attributes": rest}


def layout_differences(snapshot: dict, model: mujoco.MjModel) -> list[str]:
    """Model fields (and the state vector) whose sizes differ between the snapshot and `model`, e.g. a
    checkpoint from before the physics-only scene (2026-12-02), whose models still had the visual geoms."""
    saved_shapes = {(name, np.shape(value)) for saved in snapshot["models"] for name, value in saved["fields"].items()}
    differences = sorted({name for name, shape in saved_shapes if shape != getattr(model, name).shape})
    if np.shape(snapshot["states"][0]) != (mujoco.mj_stateSize(model, PhysicsPool.SPEC),):
        differences.append("integration state")
    return differences


def restore_env(env: DactylEnv, snapshot: dict) -> None:
    """Put `env` (built from the same config and number of environments) into the saved state."""
    if snapshot["num_envs"] != env.num_envs:
        raise ValueError(f"environment snapshot has {snapshot['num_envs']} environments, this one {env.num_envs}")
    nominal = env.nominal_model
    differences = layout_differences(snapshot, nominal)
    if differences:  # checked before anything is changed
        raise ValueError(f"environment snapshot is from another scene layout: {', '.join(differences)} differ")
    for model, saved in zip(env.models, snapshot["models"]):
        for name in MODEL_FIELDS:
            getattr(model, name)[...] = saved["fields"].get(name, getattr(nominal, name))
        model.opt.gravity[:] = saved["gravity"]
        model.opt.timestep = saved["timestep"]
    physics = env.physics
    physics.models_edited()
    physics.state[...] = np.stack(snapshot["states"])  # the same state vector in snapshots before 2026-12-02
    physics.sensors[...] = snapshot["physics"]["sensors"]
    physics.unstable = snapshot["physics"]["unstable"].copy()
    env.__dict__.update(snapshot["attributes"])
