"""The observation contract: named fields with sizes, frames and units, in one fixed order.

The policy sees what the real robot measures (motion capture or vision, plus its own last action); the
value function also sees privileged simulator state. `POLICY_LAYOUT` is written into every exported policy
and the policy node checks it at start; `policy_observation` builds the vector, from the same inputs, in
training and on the robot.

Frames: "world" is the simulation's world frame (z up, metres), in which the hand's mount is fixed; on the
robot it is the frame the motion-capture calibration maps into (frame_id `world`). Quaternions are
(w, x, y, z) with w >= 0.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from . import rotations
from .joints import NUM_ACTUATORS, NUM_JOINTS


@dataclass(frozen=True)
class Field:
    name: str
    size: int
    frame: str
    units: str
    description: str


class ObservationLayout:
    """An ordered list of fields; vectors are their concatenation."""

    def __init__(self, fields: tuple[Field, ...]):
        self.fields = tuple(fields)
        self.size = sum(f.size for f in self.fields)
        offsets = np.cumsum([0] + [f.size for f in self.fields])
        self.slices = {f.name: slice(int(a), int(b)) for f, a, b in zip(self.fields, offsets[:-1], offsets[1:])}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def assemble(self, values: dict[str, np.ndarray]) -> np.ndarray:
        missing = [f.name for f in self.fields if f.name not in values]
        if missing:
            raise KeyError(f"observation fields missing: {missing}")
        out = None
        for f in self.fields:
            part = np.asarray(values[f.name])
            if part.shape[-1] != f.size:  # e.g. fingertips as (..., 5, 3)
                part = part.reshape(part.shape[:-2] + (f.size,))
            if out is None:
                out = np.empty(part.shape[:-1] + (self.size,))
            out[..., self.slices[f.name]] = part
        return out

    def split(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        return {name: vector[..., s] for name, s in self.slices.items()}

    def to_json(self) -> str:
        return json.dumps([asdict(f) for f in self.fields])

    @classmethod
    def from_json(cls, text: str) -> "ObservationLayout":
        return cls(tuple(Field(**f) for f in json.loads(text)))

    def differences(self, other: "ObservationLayout") -> list[str]:
        """Human-readable differences (empty when the layouts are the same)."""
        out = []
        mine, theirs = {f.name: f for f in self.fields}, {f.name: f for f in other.fields}
        for name in mine.keys() - theirs.keys():
            out.append(f"field {name!r} is missing from the other layout")
        for name in theirs.keys() - mine.keys():
            out.append(f"field {name!r} is not expected")
        for name in mine.keys() & theirs.keys():
            if mine[name].size != theirs[name].size:
                out.append(f"field {name!r} has size {theirs[name].size}, expected {mine[name].size}")
            for attr in ("frame", "units"):
                if getattr(mine[name], attr) != getattr(theirs[name], attr):
                    out.append(f"field {name!r} has {attr} {getattr(theirs[name], attr)!r}, expected {getattr(mine[name], attr)!r}")
        if not out and self.names != other.names:
            out.append(f"field order is {list(other.names)}, expected {list(self.names)}")
        return out

    def __eq__(self, other) -> bool:
        return isinstance(other, ObservationLayout) and self.fields == other.fields

    def __repr__(self) -> str:
        return "ObservationLayout(" + ", ".join(f"{f.name}[{f.size}]" for f in self.fields) + ")"


QUAT = "quaternion (w, x, y, z), w >= 0"

POLICY_LAYOUT = ObservationLayout((
    Field("fingertip_pos", 15, "world", "m", "fingertip positions, FF, MF, RF, LF, TH, (x, y, z) each; from motion capture"),
    Field("object_pos", 3, "world", "m", "object centre; from motion capture or vision"),
    Field("object_quat", 4, "world", QUAT, "object orientation; from motion capture or vision"),
    Field("goal_quat", 4, "world", QUAT, "goal orientation"),
    Field("relative_goal_quat", 4, "world", QUAT, "rotation taking the object to the goal: goal * object^-1"),
    Field("previous_action", NUM_ACTUATORS, "actuators, table order", "normalised action in [-1, 1]", "the action of the previous control step"),
))

PRIVILEGED_FIELDS = (
    Field("joint_pos", NUM_JOINTS, "joints, table order, model convention", "rad", "hand joint positions"),
    Field("joint_vel", NUM_JOINTS, "joints, table order, model convention", "rad/s", "hand joint velocities"),
    Field("object_linvel", 3, "world", "m/s", "object linear velocity"),
    Field("object_angvel", 3, "object body frame", "rad/s", "object angular velocity"),
    Field("fingertip_vel", 15, "world", "m/s", "fingertip linear velocities, FF, MF, RF, LF, TH"),
)


def value_layout(num_randomization_params: int) -> ObservationLayout:
    """The value function's inputs: the noiseless policy fields, privileged state, randomization parameters."""
    return ObservationLayout(POLICY_LAYOUT.fields + PRIVILEGED_FIELDS + (
        Field("randomization", num_randomization_params, "-", "see randomization.PARAMETER_NAMES",
              "the episode's randomization parameters"),
    ))


def policy_observation(fingertip_pos: np.ndarray, object_pos: np.ndarray, object_quat: np.ndarray,
                       goal_quat: np.ndarray, previous_action: np.ndarray) -> np.ndarray:
    """The policy's observation vector (..., POLICY_LAYOUT.size) from measured quantities."""
    object_quat = rotations.canonical(rotations.normalize(object_quat))
    goal_quat = rotations.canonical(rotations.normalize(goal_quat))
    return POLICY_LAYOUT.assemble({
        "fingertip_pos": fingertip_pos,
        "object_pos": object_pos,
        "object_quat": object_quat,
        "goal_quat": goal_quat,
        "relative_goal_quat": rotations.canonical(rotations.relative(object_quat, goal_quat)),
        "previous_action": previous_action,
    })
