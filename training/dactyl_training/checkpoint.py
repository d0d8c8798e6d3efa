"""Training checkpoints: one torch file holding everything a run needs to continue.

Format (version 1, a plain dict, stable across code changes that keep these keys):
    format, config (the TrainConfig as plain data), policy, value, optimizer (state dicts),
    iteration, env_steps, wall_time, learner_rng (torch generator state), recent_successes, and the
    curriculum's goal_angle, stage_trials and direction_goals, and workers (each rollout worker's snapshot).
Environments are stored compactly (env_state.py; a MuJoCo model per environment would make files of
gigabytes), so a resumed run continues its trials where the workers match; otherwise it starts fresh ones.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dactyl_core.actions import ActionConfig
from dactyl_core.config import ConfigError, dump_yaml, to_dict
from dactyl_core.env import load_env_config
from dactyl_core.observations import value_layout
from dactyl_core.randomization import PARAMETER_NAMES

from .config import TrainConfig, load_train_config
from .networks import PolicyNetwork
from .ppo import build_networks

FORMAT = 1


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write atomically (a SIGTERM mid-write must not leave a broken checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a foreign or truncated file
        raise ValueError(f"{path} is not a dactyl training checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dactyl training checkpoint of format {FORMAT}")
    return data


def checkpoint_config(data: dict) -> TrainConfig:
    return load_train_config(data["config"])


def architecture_differences(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """What stops a checkpoint's parameters from fitting `wanted` (empty if they fit)."""
    differences = []
    for key, old in to_dict(saved.network).items():
        new = getattr(wanted.network, key)
        if old != new:
            differences.append(f"network.{key}: checkpoint {old}, config {new}")
    if saved.env.object != wanted.env.object:
        differences.append(f"env.object: checkpoint {saved.env.object}, config {wanted.env.object}")
    return differences


def resume_config(data: dict, wanted: TrainConfig | None) -> TrainConfig:
    """The config to continue with: the checkpoint's own, or `wanted` if its architecture matches."""
    saved = checkpoint_config(data)
    if wanted is None:
        return saved
    differences = architecture_differences(saved, wanted)
    if differences:
        raise ConfigError("cannot resume: the checkpoint's architecture differs from the config: " + "; ".join(differences))
    return wanted


def _policy_from(data: dict) -> tuple[PolicyNetwork, TrainConfig]:
    config = checkpoint_config(data)
    policy, _ = build_networks(config, value_layout(len(PARAMETER_NAMES)).size)
    policy.load_state_dict(data["policy"])
    return policy.eval(), config


def load_policy_for_export(path: str | Path):
    """(policy network, PolicyMetadata) for `dactyl export`."""
    from .export import policy_metadata

    data = read_checkpoint(path)
    policy, config = _policy_from(data)
    env_config = load_env_config(config.env.object, config.env.randomization, config.env.overrides)
    return policy, policy_metadata(policy, env_config, training_config=dump_yaml(config), env_steps=int(data["env_steps"]))


class CheckpointPolicy:
    """Runs a checkpoint's policy in torch (most likely bin, like the exported model) for N environments."""

    def __init__(self, path: str | Path, num_envs: int = 1, actions: ActionConfig | None = None,
                 control_period: float | None = None):
        data = read_checkpoint(path)
        self.policy, config = _policy_from(data)
        env_config = load_env_config(config.env.object, config.env.randomization, config.env.overrides)
        problems = []
        if actions is not None and (actions.num_bins, actions.delta_scale, actions.continuous) != (
                env_config.actions.num_bins, env_config.actions.delta_scale, env_config.actions.continuous):
            problems.append(f"actions: trained with {env_config.actions}, asked for {actions}")
        period = env_config.scene.physics.control_period
        if control_period is not None and not np.isclose(control_period, period):
            problems.append(f"control period: trained with {period:g} s, asked for {control_period:g} s")
        if problems:
            raise ValueError(f"{path} does not fit this environment: " + "; ".join(problems))
        self.num_envs = num_envs
        self.state = self.policy.trunk.initial_state(num_envs)

    def reset(self, mask: np.ndarray | None = None) -> None:
        if mask is None:
            keep = torch.zeros(self.num_envs)
        else:
            keep = torch.as_tensor(~np.asarray(mask, bool), dtype=torch.float32)
        self.state = tuple(s * keep.view(1, -1, 1) for s in self.state)

    @torch.no_grad()
    def act(self, observation: np.ndarray) -> np.ndarray:
        obs = torch.as_tensor(np.asarray(observation, np.float32)).unsqueeze(0)
        logits, self.state = self.policy(obs, self.state, torch.zeros(1, self.num_envs))
        return logits[0].argmax(-1).numpy().astype(np.int64)
