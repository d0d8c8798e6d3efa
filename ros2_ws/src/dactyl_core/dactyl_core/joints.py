"""The one joint and actuator table: simulation (OpenAI/gym) naming <-> Shadow Robot naming.

The MuJoCo hand in `gymnasium-robotics` numbers joints from the fingertip *down from 0* (FFJ0 is the
distal joint) and its wrist and thumb one lower than Shadow does; the real hand numbers from 1 (rh_FFJ1 is
distal). Its thumb distal joint also bends the other way. Everything that crosses between simulation and
hardware goes through this table; nothing else in the code base spells a joint name.

Positions convert as `shadow = sign * model`. The four coupled fingers have one motor for the two distal
joints: in the model the actuator drives the middle joint (model J1 = Shadow J2) and a tendon makes the
distal joint follow at `COUPLED_DISTAL_RATIO`; on the real hand the motor is addressed as J0 = J1 + J2.

Ranges: `model_range` is what the MJCF allows (and what a policy trained in simulation has seen);
`shadow_range` is the hardware limit from Shadow's documentation. The model range, sign-mapped, always lies
inside the Shadow range, and the hand driver clamps every command to it (`command_range`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The distal joint follows the middle joint through the model's tendon `robot0:T_FFJ1c`
# (0.00705 * J0 - 0.00805 * J1 = 0 in model naming), so distal = middle * 0.00805 / 0.00705.
COUPLED_DISTAL_RATIO = 0.00805 / 0.00705
COUPLED_J0_RANGE = (0.0, float(np.pi))  # Shadow: J0 = J1 + J2 spans 0..pi


@dataclass(frozen=True)
class Joint:
    index: int  # order in /joint_states, in the model's hand qpos, and in every joint array
    model_name: str
    shadow_name: str
    sign: int  # shadow value = sign * model value
    model_range: tuple[float, float]
    shadow_range: tuple[float, float]

    @property
    def command_range(self) -> tuple[float, float]:
        """Range in Shadow convention that commands are clamped to: the model range, sign-mapped."""
        low, high = sorted((self.sign * self.model_range[0], self.sign * self.model_range[1]))
        return (low, high)


@dataclass(frozen=True)
class Actuator:
    index: int  # order of the policy's action vector and the model's ctrl
    model_name: str
    model_joint: str  # the joint the position actuator drives in the model
    shadow_name: str  # the Shadow motor: `rh_FFJ0` for a coupled pair
    shadow_joints: tuple[str, ...]  # Shadow joints it moves: (J2, J1) for a coupled pair
    sign: int
    ctrl_range: tuple[float, float]  # model convention

    @property
    def coupled(self) -> bool:
        return len(self.shadow_joints) == 2

    @property
    def controller_topic(self) -> str:
        """Shadow's per-actuator position controller command topic (std_msgs/Float64)."""
        return f"/sh_{self.shadow_name.lower()}_position_controller/command"


_F12 = (0.0, 1.571)
_F3 = (-0.262, 1.571)
_F4 = (-0.349, 0.349)

#: index, model name, Shadow name, sign, model range (MJCF), Shadow range (Shadow docs)
JOINTS: tuple[Joint, ...] = (
    Joint(0, "robot0:WRJ1", "rh_WRJ2", +1, (-0.489, 0.14), (-0.489, 0.174)),
    Joint(1, "robot0:WRJ0", "rh_WRJ1", +1, (-0.698, 0.489), (-0.698, 0.489)),
    Joint(2, "robot0:FFJ3", "rh_FFJ4", +1, (-0.349, 0.349), _F4),
    Joint(3, "robot0:FFJ2", "rh_FFJ3", +1, (0.0, 1.571), _F3),
    Joint(4, "robot0:FFJ1", "rh_FFJ2", +1, (0.0, 1.571), _F12),
    Joint(5, "robot0:FFJ0", "rh_FFJ1", +1, (0.0, 1.571), _F12),
    Joint(6, "robot0:MFJ3", "rh_MFJ4", +1, (-0.349, 0.349), _F4),
    Joint(7, "robot0:MFJ2", "rh_MFJ3", +1, (0.0, 1.571), _F3),
    Joint(8, "robot0:MFJ1", "rh_MFJ2", +1, (0.0, 1.571), _F12),
    Joint(9, "robot0:MFJ0", "rh_MFJ1", +1, (0.0, 1.571), _F12),
    Joint(10, "robot0:RFJ3", "rh_RFJ4", +1, (-0.349, 0.349), _F4),
    Joint(11, "robot0:RFJ2", "rh_RFJ3", +1, (0.0, 1.571), _F3),
    Joint(12, "robot0:RFJ1", "rh_RFJ2", +1, (0.0, 1.571), _F12),
    Joint(13, "robot0:RFJ0", "rh_RFJ1", +1, (0.0, 1.571), _F12),
    Joint(14, "robot0:LFJ4", "rh_LFJ5", +1, (0.0, 0.785), (0.0, 0.785)),
    Joint(15, "robot0:LFJ3", "rh_LFJ4", +1, (-0.349, 0.349), _F4),
    Joint(16, "robot0:LFJ2", "rh_LFJ3", +1, (0.0, 1.571), _F3),
    Joint(17, "robot0:LFJ1", "rh_LFJ2", +1, (0.0, 1.571), _F12),
    Joint(18, "robot0:LFJ0", "rh_LFJ1", +1, (0.0, 1.571), _F12),
    Joint(19, "robot0:THJ4", "rh_THJ5", +1, (-1.047, 1.047), (-1.047, 1.047)),
    Joint(20, "robot0:THJ3", "rh_THJ4", +1, (0.0, 1.222), (0.0, 1.222)),
    Joint(21, "robot0:THJ2", "rh_THJ3", +1, (-0.209, 0.209), (-0.209, 0.209)),
    Joint(22, "robot0:THJ1", "rh_THJ2", +1, (-0.524, 0.524), (-0.698, 0.698)),
    Joint(23, "robot0:THJ0", "rh_THJ1", -1, (-1.571, 0.0), (-0.262, 1.571)),  # the sign trap
)

#: index, model actuator, model joint it drives, Shadow motor, Shadow joints it moves, sign, ctrl range
ACTUATORS: tuple[Actuator, ...] = (
    Actuator(0, "robot0:A_WRJ1", "robot0:WRJ1", "rh_WRJ2", ("rh_WRJ2",), +1, (-0.489, 0.14)),
    Actuator(1, "robot0:A_WRJ0", "robot0:WRJ0", "rh_WRJ1", ("rh_WRJ1",), +1, (-0.698, 0.489)),
    Actuator(2, "robot0:A_FFJ3", "robot0:FFJ3", "rh_FFJ4", ("rh_FFJ4",), +1, (-0.349, 0.349)),
    Actuator(3, "robot0:A_FFJ2", "robot0:FFJ2", "rh_FFJ3", ("rh_FFJ3",), +1, (0.0, 1.571)),
    Actuator(4, "robot0:A_FFJ1", "robot0:FFJ1", "rh_FFJ0", ("rh_FFJ2", "rh_FFJ1"), +1, (0.0, 1.571)),
    Actuator(5, "robot0:A_MFJ3", "robot0:MFJ3", "rh_MFJ4", ("rh_MFJ4",), +1, (-0.349, 0.349)),
    Actuator(6, "robot0:A_MFJ2", "robot0:MFJ2", "rh_MFJ3", ("rh_MFJ3",), +1, (0.0, 1.571)),
    Actuator(7, "robot0:A_MFJ1", "robot0:MFJ1", "rh_MFJ0", ("rh_MFJ2", "rh_MFJ1"), +1, (0.0, 1.571)),
    Actuator(8, "robot0:A_RFJ3", "robot0:RFJ3", "rh_RFJ4", ("rh_RFJ4",), +1, (-0.349, 0.349)),
    Actuator(9, "robot0:A_RFJ2", "robot0:RFJ2", "rh_RFJ3", ("rh_RFJ3",), +1, (0.0, 1.571)),
    Actuator(10, "robot0:A_RFJ1", "robot0:RFJ1", "rh_RFJ0", ("rh_RFJ2", "rh_RFJ1"), +1, (0.0, 1.571)),
    Actuator(11, "robot0:A_LFJ4", "robot0:LFJ4", "rh_LFJ5", ("rh_LFJ5",), +1, (0.0, 0.785)),
    Actuator(12, "robot0:A_LFJ3", "robot0:LFJ3", "rh_LFJ4", ("rh_LFJ4",), +1, (-0.349, 0.349)),
    Actuator(13, "robot0:A_LFJ2", "robot0:LFJ2", "rh_LFJ3", ("rh_LFJ3",), +1, (0.0, 1.571)),
    Actuator(14, "robot0:A_LFJ1", "robot0:LFJ1", "rh_LFJ0", ("rh_LFJ2", "rh_LFJ1"), +1, (0.0, 1.571)),
    Actuator(15, "robot0:A_THJ4", "robot0:THJ4", "rh_THJ5", ("rh_THJ5",), +1, (-1.047, 1.047)),
    Actuator(16, "robot0:A_THJ3", "robot0:THJ3", "rh_THJ4", ("rh_THJ4",), +1, (0.0, 1.222)),
    Actuator(17, "robot0:A_THJ2", "robot0:THJ2", "rh_THJ3", ("rh_THJ3",), +1, (-0.209, 0.209)),
    Actuator(18, "robot0:A_THJ1", "robot0:THJ1", "rh_THJ2", ("rh_THJ2",), +1, (-0.524, 0.524)),
    Actuator(19, "robot0:A_THJ0", "robot0:THJ0", "rh_THJ1", ("rh_THJ1",), -1, (-1.571, 0.0)),
)

NUM_JOINTS = len(JOINTS)  # 24
NUM_ACTUATORS = len(ACTUATORS)  # 20

MODEL_JOINT_NAMES = tuple(j.model_name for j in JOINTS)
SHADOW_JOINT_NAMES = tuple(j.shadow_name for j in JOINTS)
MODEL_ACTUATOR_NAMES = tuple(a.model_name for a in ACTUATORS)
SHADOW_ACTUATOR_NAMES = tuple(a.shadow_name for a in ACTUATORS)
JOINT_SIGNS = np.array([j.sign for j in JOINTS], dtype=np.float64)

_SHADOW_INDEX = {j.shadow_name: j.index for j in JOINTS}
_MODEL_INDEX = {j.model_name: j.index for j in JOINTS}

#: Joint limits for commands in Shadow convention, shape (24, 2).
COMMAND_LIMITS = np.array([j.command_range for j in JOINTS], dtype=np.float64)
#: Actuator control limits in model convention, shape (20, 2).
CTRL_LIMITS = np.array([a.ctrl_range for a in ACTUATORS], dtype=np.float64)


def shadow_index(name: str) -> int:
    """Index of a Shadow joint name; KeyError names the valid choices."""
    try:
        return _SHADOW_INDEX[name]
    except KeyError:
        raise KeyError(f"unknown Shadow joint {name!r}; expected one of {list(SHADOW_JOINT_NAMES)}") from None


def model_index(name: str) -> int:
    try:
        return _MODEL_INDEX[name]
    except KeyError:
        raise KeyError(f"unknown model joint {name!r}; expected one of {list(MODEL_JOINT_NAMES)}") from None


def model_to_shadow_positions(q_model: np.ndarray) -> np.ndarray:
    """Joint positions (..., 24), model convention -> Shadow convention (same order)."""
    return np.asarray(q_model, dtype=np.float64) * JOINT_SIGNS


def shadow_to_model_positions(q_shadow: np.ndarray) -> np.ndarray:
    return np.asarray(q_shadow, dtype=np.float64) * JOINT_SIGNS


def actuator_targets_to_joint_targets(ctrl: np.ndarray) -> np.ndarray:
    """Actuator targets (..., 20, model convention) -> the 24 Shadow joint targets a trajectory carries.

    A coupled actuator's target is its middle joint (Shadow J2); the distal joint (J1) follows as in the
    model, saturating at its upper limit.
    """
    ctrl = np.asarray(ctrl, dtype=np.float64)
    out = np.zeros(ctrl.shape[:-1] + (NUM_JOINTS,))
    for act in ACTUATORS:
        value = act.sign * ctrl[..., act.index]
        first = _SHADOW_INDEX[act.shadow_joints[0]]
        out[..., first] = value
        if act.coupled:
            distal = _SHADOW_INDEX[act.shadow_joints[1]]
            out[..., distal] = np.minimum(value * COUPLED_DISTAL_RATIO, JOINTS[distal].command_range[1])
    return out


def joint_targets_to_actuator_targets(targets: np.ndarray) -> np.ndarray:
    """24 Shadow joint targets -> 20 actuator targets (model convention). Coupled pairs use J2."""
    targets = np.asarray(targets, dtype=np.float64)
    out = np.zeros(targets.shape[:-1] + (NUM_ACTUATORS,))
    for act in ACTUATORS:
        out[..., act.index] = act.sign * targets[..., _SHADOW_INDEX[act.shadow_joints[0]]]
    return out


def coupled_j0_from_middle(middle: np.ndarray) -> np.ndarray:
    """Shadow J0 (= J1 + J2) for a coupled finger whose middle joint J2 is at `middle`."""
    middle = np.asarray(middle, dtype=np.float64)
    return middle + np.minimum(middle * COUPLED_DISTAL_RATIO, _F12[1])


def coupled_middle_from_j0(j0: np.ndarray) -> np.ndarray:
    """Inverse of `coupled_j0_from_middle` (piecewise linear, monotonic)."""
    j0 = np.asarray(j0, dtype=np.float64)
    knee = _F12[1] / COUPLED_DISTAL_RATIO  # middle angle where the distal joint saturates
    return np.where(j0 <= knee * (1.0 + COUPLED_DISTAL_RATIO), j0 / (1.0 + COUPLED_DISTAL_RATIO), j0 - _F12[1])


def actuator_targets_to_motor_commands(ctrl: np.ndarray) -> np.ndarray:
    """Actuator targets (..., 20, model) -> per-motor Shadow commands (J0 for coupled pairs)."""
    ctrl = np.asarray(ctrl, dtype=np.float64)
    out = ctrl * np.array([a.sign for a in ACTUATORS], dtype=np.float64)
    for act in ACTUATORS:
        if act.coupled:
            out[..., act.index] = coupled_j0_from_middle(out[..., act.index])
    return out


def motor_commands_to_actuator_targets(commands: np.ndarray) -> np.ndarray:
    commands = np.asarray(commands, dtype=np.float64).copy()
    for act in ACTUATORS:
        if act.coupled:
            commands[..., act.index] = coupled_middle_from_j0(commands[..., act.index])
    return commands * np.array([a.sign for a in ACTUATORS], dtype=np.float64)


#: Limits of the per-motor position-controller commands (Shadow convention), shape (20, 2): J0 spans 0..pi.
MOTOR_COMMAND_LIMITS = np.array(
    [COUPLED_J0_RANGE if a.coupled else JOINTS[_SHADOW_INDEX[a.shadow_name]].command_range for a in ACTUATORS],
    dtype=np.float64)


def joint_targets_to_motor_commands(targets: np.ndarray) -> np.ndarray:
    """24 Shadow joint targets (...) -> the 20 per-motor position-controller commands (J0 = J1 + J2).

    This is what the hand driver sends on `/sh_rh_<motor>_position_controller/command`. The joint limits
    are documented rounded (1.571 each), so two joints at their limits sum to 3.142, just past J0's pi:
    the sum is clipped to the motor's range, so in-limit joint targets always give in-limit motor commands.
    """
    targets = np.asarray(targets, dtype=np.float64)
    out = np.zeros(targets.shape[:-1] + (NUM_ACTUATORS,))
    for act in ACTUATORS:
        out[..., act.index] = sum(targets[..., _SHADOW_INDEX[name]] for name in act.shadow_joints)
    return np.clip(out, MOTOR_COMMAND_LIMITS[:, 0], MOTOR_COMMAND_LIMITS[:, 1])


def motor_commands_to_joint_targets(commands: np.ndarray) -> np.ndarray:
    """Inverse of `joint_targets_to_motor_commands`: a coupled J0 splits as the model's tendon couples J2 and J1.

    The simulator uses this to play the hardware behind the per-motor controller interface.
    """
    commands = np.asarray(commands, dtype=np.float64)
    out = np.zeros(commands.shape[:-1] + (NUM_JOINTS,))
    for act in ACTUATORS:
        value = commands[..., act.index]
        if act.coupled:
            middle = coupled_middle_from_j0(value)
            out[..., _SHADOW_INDEX[act.shadow_joints[0]]] = middle
            out[..., _SHADOW_INDEX[act.shadow_joints[1]]] = value - middle
        else:
            out[..., _SHADOW_INDEX[act.shadow_name]] = value
    return out
