"""Export a control policy to a self-describing ONNX file (see dactyl_core.onnx_models for the contract).

The graph takes the raw policy observation (normalisation is baked in) and the LSTM state, and returns
the logits, the most likely bin per actuator and the new state, for any batch size.
"""
from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from dactyl_core.env import EnvConfig
from dactyl_core.onnx_models import (POLICY_ACTION, POLICY_INPUT, POLICY_LOGITS, POLICY_STATE_INPUTS,
                                     POLICY_STATE_OUTPUTS, PolicyMetadata)
from dactyl_core.observations import POLICY_LAYOUT

from .networks import PolicyNetwork

OPSET = 18


class _RecurrentStep(nn.Module):
    """One control step of an LSTM policy for a batch: what runs on the robot."""

    def __init__(self, policy: PolicyNetwork):
        super().__init__()
        self.policy = policy

    def forward(self, observation, h, c):
        starts = torch.zeros(1, observation.shape[0])
        logits, (h_out, c_out) = self.policy(observation.unsqueeze(0), (h, c), starts)
        return logits[0], torch.argmax(logits[0], dim=-1), h_out, c_out


class _FeedForwardStep(nn.Module):
    def __init__(self, policy: PolicyNetwork):
        super().__init__()
        self.policy = policy

    def forward(self, observation):
        batch = observation.shape[0]
        logits, _ = self.policy(observation.unsqueeze(0), self.policy.trunk.initial_state(batch), torch.zeros(1, batch))
        return logits[0], torch.argmax(logits[0], dim=-1)


def git_revision() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def policy_metadata(policy: PolicyNetwork, env_config: EnvConfig, training_config: str = "", env_steps: int = 0) -> PolicyMetadata:
    normalizer = policy.trunk.normalizer
    return PolicyMetadata(
        observation_layout=POLICY_LAYOUT,
        normalizer_mean=tuple(float(v) for v in normalizer.mean),
        normalizer_std=tuple(float(v) for v in normalizer.std),
        normalizer_clip=float(normalizer.clip),
        actions=env_config.actions,
        control_period=env_config.scene.physics.control_period,
        recurrent=policy.trunk.config.recurrent,
        state_size=policy.trunk.state_size,
        object=env_config.scene.object,
        training_config=training_config,
        git_revision=git_revision(),
        env_steps=env_steps,
    )


def export_policy(policy: PolicyNetwork, metadata: PolicyMetadata, path: str | Path) -> Path:
    """Write `policy` with `metadata` to `path` (ONNX, opset 18, dynamic batch)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    observation = torch.zeros(2, POLICY_LAYOUT.size)
    batch = torch.export.Dim("batch")
    if metadata.recurrent:
        module = _RecurrentStep(policy).eval()
        h, c = policy.trunk.initial_state(2)
        args = (observation, h, c)
        dynamic_shapes = ({0: batch}, {1: batch}, {1: batch})
        inputs = [POLICY_INPUT, *POLICY_STATE_INPUTS]
        outputs = [POLICY_LOGITS, POLICY_ACTION, *POLICY_STATE_OUTPUTS]
    else:
        module = _FeedForwardStep(policy).eval()
        args, dynamic_shapes = (observation,), ({0: batch},)
        inputs, outputs = [POLICY_INPUT], [POLICY_LOGITS, POLICY_ACTION]
    doc = f"dactyl control policy for the {metadata.object} ({'LSTM' if metadata.recurrent else 'feed-forward'})"
    return write_onnx(module, args, path, inputs, outputs, dynamic_shapes, metadata.to_props(), doc)


def write_onnx(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic_shapes,
               props: dict[str, str], doc_string: str) -> Path:
    """Export `module` with torch's dynamo exporter, then replace the file's metadata with `props`, check, save."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # it lists torchvision ops it skips
    with torch.no_grad(), warnings.catch_warnings():
        # torch's exporter warns about its own internals (LSTM weight attributes, deprecated guards).
        warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape constraints")
        warnings.filterwarnings("ignore", message=".*_flat_weights")
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_shapes=dynamic_shapes, opset_version=OPSET, dynamo=True, external_data=False,
                          verbose=False)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = doc_string
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def torch_reference_step(policy: PolicyNetwork, observation: np.ndarray, state=None):
    """The torch computation the ONNX graph must reproduce (used by the parity test)."""
    with torch.no_grad():
        obs = torch.as_tensor(observation, dtype=torch.float32)
        state = state if state is not None else policy.trunk.initial_state(obs.shape[0])
        logits, state = policy(obs.unsqueeze(0), state, torch.zeros(1, obs.shape[0]))
    return logits[0].numpy(), state
