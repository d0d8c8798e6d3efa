"""Self-describing ONNX models: the metadata contract and the loaders that enforce it.

Every model dactyl exports carries, in the ONNX file's metadata_props, everything a consumer needs to
use it correctly: for a control policy the observation layout, the normaliser statistics baked into the
graph, the action bins and delta scale, the actuator names in model and Shadow naming and the control
period. Loaders refuse a file that lacks the metadata or disagrees with what the consumer will feed it,
and say exactly what differs.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .actions import ActionConfig
from .joints import MODEL_ACTUATOR_NAMES, SHADOW_ACTUATOR_NAMES
from .observations import POLICY_LAYOUT, ObservationLayout

CONTRACT_VERSION = 1
PREFIX = "dactyl."

# Tensor names of an exported control policy.
POLICY_INPUT = "observation"  # (batch, observation size) float32, raw: normalisation is inside the graph
POLICY_STATE_INPUTS = ("lstm_h", "lstm_c")  # (1, batch, state size) float32 each; absent when feed-forward
POLICY_LOGITS = "logits"  # (batch, 20, num_bins) float32
POLICY_ACTION = "action"  # (batch, 20) int64: the most likely bin per actuator
POLICY_STATE_OUTPUTS = ("lstm_h_out", "lstm_c_out")


class ModelContractError(ValueError):
    """An ONNX file is not a dactyl model of the expected kind, or does not fit its consumer."""


@dataclass(frozen=True)
class PolicyMetadata:
    observation_layout: ObservationLayout
    normalizer_mean: tuple[float, ...]
    normalizer_std: tuple[float, ...]
    normalizer_clip: float
    actions: ActionConfig
    control_period: float
    recurrent: bool
    state_size: int
    object: str
    training_config: str = ""  # YAML of the run that produced it
    git_revision: str = "unknown"
    env_steps: int = 0
    actuators_model: tuple[str, ...] = MODEL_ACTUATOR_NAMES
    actuators_shadow: tuple[str, ...] = SHADOW_ACTUATOR_NAMES

    def to_props(self) -> dict[str, str]:
        return {
            PREFIX + "kind": "policy",
            PREFIX + "contract_version": str(CONTRACT_VERSION),
            PREFIX + "observation_layout": self.observation_layout.to_json(),
            PREFIX + "normalizer": json.dumps({"mean": list(self.normalizer_mean), "std": list(self.normalizer_std), "clip": self.normalizer_clip}),
            PREFIX + "actions": json.dumps(asdict(self.actions)),
            PREFIX + "control_period": repr(self.control_period),
            PREFIX + "recurrent": json.dumps({"recurrent": self.recurrent, "state_size": self.state_size}),
            PREFIX + "object": self.object,
            PREFIX + "actuators_model": json.dumps(list(self.actuators_model)),
            PREFIX + "actuators_shadow": json.dumps(list(self.actuators_shadow)),
            PREFIX + "training_config": self.training_config,
            PREFIX + "git_revision": self.git_revision,
            PREFIX + "env_steps": str(self.env_steps),
        }

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> "PolicyMetadata":
        _require_kind(props, "policy", source)
        try:
            normalizer = json.loads(props[PREFIX + "normalizer"])
            recurrent = json.loads(props[PREFIX + "recurrent"])
            return cls(
                observation_layout=ObservationLayout.from_json(props[PREFIX + "observation_layout"]),
                normalizer_mean=tuple(normalizer["mean"]),
                normalizer_std=tuple(normalizer["std"]),
                normalizer_clip=float(normalizer["clip"]),
                actions=ActionConfig(**json.loads(props[PREFIX + "actions"])),
                control_period=float(props[PREFIX + "control_period"]),
                recurrent=bool(recurrent["recurrent"]),
                state_size=int(recurrent["state_size"]),
                object=props[PREFIX + "object"],
                training_config=props.get(PREFIX + "training_config", ""),
                git_revision=props.get(PREFIX + "git_revision", "unknown"),
                env_steps=int(props.get(PREFIX + "env_steps", 0)),
                actuators_model=tuple(json.loads(props[PREFIX + "actuators_model"])),
                actuators_shadow=tuple(json.loads(props[PREFIX + "actuators_shadow"])),
            )
        except KeyError as err:
            raise ModelContractError(f"{source}: metadata key {err.args[0]!r} is missing") from None
        except (ValueError, TypeError) as err:
            raise ModelContractError(f"{source}: malformed metadata: {err}") from None

    def mismatches(self, layout: ObservationLayout = POLICY_LAYOUT, actions: ActionConfig | None = None,
                   control_period: float | None = None) -> list[str]:
        """What keeps this policy from running on the given inputs (empty when it fits)."""
        problems = [f"observation layout: {d}" for d in layout.differences(self.observation_layout)]
        if tuple(self.actuators_model) != MODEL_ACTUATOR_NAMES:
            problems.append(f"actuators (model naming) {list(self.actuators_model)} differ from the joint table")
        if tuple(self.actuators_shadow) != SHADOW_ACTUATOR_NAMES:
            problems.append(f"actuators (Shadow naming) {list(self.actuators_shadow)} differ from the joint table")
        if actions is not None and actions != self.actions:
            problems.append(f"actions: model has {self.actions}, expected {actions}")
        if control_period is not None and abs(control_period - self.control_period) > 1e-6:
            problems.append(f"control period: model was trained at {self.control_period:g} s, running at {control_period:g} s")
        return problems


def read_props(path: str | Path) -> dict[str, str]:
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelContractError(f"model file {path} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises several types for corrupt files
        raise ModelContractError(f"{path}: not a readable ONNX file ({err})") from None
    return {p.key: p.value for p in model.metadata_props}


def _require_kind(props: dict[str, str], kind: str, source: str) -> None:
    found = props.get(PREFIX + "kind")
    if found is None:
        raise ModelContractError(
            f"{source}: not a dactyl model: its ONNX metadata has no '{PREFIX}kind' entry (export it with `dactyl export`)")
    if found != kind:
        raise ModelContractError(f"{source}: is a dactyl {found!r} model, expected a {kind!r} model")
    version = props.get(PREFIX + "contract_version")
    if version != str(CONTRACT_VERSION):
        raise ModelContractError(f"{source}: metadata contract version {version}, this code reads version {CONTRACT_VERSION}")


def make_session(path: str | Path, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class OnnxPolicy:
    """An exported control policy run with ONNX Runtime for N environments (LSTM state kept per env)."""

    def __init__(self, path: str | Path, num_envs: int = 1, layout: ObservationLayout = POLICY_LAYOUT,
                 actions: ActionConfig | None = None, control_period: float | None = None, threads: int = 1):
        self.path = Path(path)
        self.metadata = PolicyMetadata.from_props(read_props(path), str(path))
        problems = self.metadata.mismatches(layout, actions, control_period)
        if problems:
            raise ModelContractError(f"{path} does not fit this environment: " + "; ".join(problems))
        self.session = make_session(path, threads)
        self.num_envs = num_envs
        size = self.metadata.state_size
        self.state = [np.zeros((1, num_envs, size), np.float32) for _ in POLICY_STATE_INPUTS] if self.metadata.recurrent else []
        self.last_logits: np.ndarray | None = None

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forget the recurrent state of the environments in `mask` (all when None): a new trial."""
        for s in self.state:
            if mask is None:
                s[:] = 0.0
            else:
                s[:, mask] = 0.0

    def act(self, observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation, np.float32)
        feeds = {POLICY_INPUT: observation}
        feeds.update(dict(zip(POLICY_STATE_INPUTS, self.state)))
        outputs = [POLICY_LOGITS, POLICY_ACTION] + (list(POLICY_STATE_OUTPUTS) if self.state else [])
        result = self.session.run(outputs, feeds)
        self.last_logits = result[0]
        if self.state:
            self.state = [result[2], result[3]]
        return result[1].astype(np.int64)
