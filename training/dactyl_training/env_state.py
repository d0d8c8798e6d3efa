"""Save and restore a batched environment mid-trial, compactly, so that `--resume` continues exactly.

Pickling the whole environment would store every MuJoCo model with its meshes (tens of MB per
environment). Instead we keep what differs from a freshly built environment of the same config:
each simulation's integration state (mj_getState, actuator-delay history included), the model fields
domain randomization rewrites, and the environment's own small arrays and generators.
"""
from __future__ import annotations

import mujoco
import numpy as np

from dactyl_core.env import DactylEnv
from dactyl_core.randomization import ModelRandomizer

STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION | mujoco.mjtState.mjSTATE_HISTORY
MODEL_FIELDS = (*ModelRandomizer.FIELDS, "actuator_delay")
HEAVY_ATTRIBUTES = {"scene", "nominal_model", "models", "datas", "physics", "model_randomizer"}


def _spec() -> int:
    return int(STATE_SPEC)


def snapshot_env(env: DactylEnv) -> dict:
    nominal = env.nominal_model
    models = []
    for model in env.models:
        fields = {name: getattr(model, name).copy() for name in MODEL_FIELDS
                  if not np.array_equal(getattr(model, name), getattr(nominal, name))}
        models.append({"fields": fields, "gravity": model.opt.gravity.copy(), "timestep": float(model.opt.timestep)})
    states = []
    for model, data in zip(env.models, env.datas):
        state = np.empty(mujoco.mj_stateSize(model, _spec()))
        mujoco.mj_getState(model, data, state, _spec())
        states.append(state)
    physics = {name: getattr(env.physics, name).copy() for name in ("qpos", "qvel", "sensors", "unstable")}
    rest = {k: v for k, v in env.__dict__.items() if k not in HEAVY_ATTRIBUTES}
    return {"num_envs": env.num_envs, "models": models, "states": states, "physics": physics, "attributes": rest}


def restore_env(env: DactylEnv, snapshot: dict) -> None:
    """Put `env` (built from the same config and number of environments) into the saved state."""
    if snapshot["num_envs"] != env.num_envs:
        raise ValueError(f"environment snapshot has {snapshot['num_envs']} environments, this one {env.num_envs}")
    nominal = env.nominal_model
    for model, data, saved, state in zip(env.models, env.datas, snapshot["models"], snapshot["states"]):
        for name in MODEL_FIELDS:
            getattr(model, name)[...] = saved["fields"].get(name, getattr(nominal, name))
        model.opt.gravity[:] = saved["gravity"]
        model.opt.timestep = saved["timestep"]
        mujoco.mj_resetData(model, data)
        mujoco.mj_setState(model, data, state, _spec())
        mujoco.mj_forward(model, data)
    for name, value in snapshot["physics"].items():
        getattr(env.physics, name)[...] = value
    env.__dict__.update(snapshot["attributes"])
