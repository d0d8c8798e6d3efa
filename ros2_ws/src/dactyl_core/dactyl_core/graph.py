"""The ROS graph, described once: which nodes run, from which packages, with which parameters and
remappings, under which launch arguments. Pure data, no ROS import.

Two launchers read this description and nothing else: `launch/dactyl.launch.py` (the real `launch` /
`launch_ros` API, for robot machines with a ROS install) and `dactyl up` (the local launcher, which starts
the same nodes as processes). Values that depend on the arguments are small expressions each launcher
knows how to evaluate: `Arg` (an argument's value), `Equals` (argument == value: a condition or a bool
parameter) and `Select` (a value chosen by an argument).

Arguments: hand:=sim|real, pose_source:=mocap|vision, policy:=PATH and a few more, each with a default.
`use_sim_time` is true exactly when hand is sim (the simulator publishes /clock); no argument can start
the real-hardware path by accident, since the launchers refuse any value outside an argument's choices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import interfaces
from .task import NEARBY_GOAL_AXES


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Arg:
    """The value of a launch argument, converted to `type` (str, int, float or bool)."""

    name: str
    type: str = "str"


@dataclass(frozen=True)
class Equals:
    """True when argument `name` has the value `value`."""

    name: str
    value: str


@dataclass(frozen=True)
class Select:
    """options[value of argument `name`]."""

    name: str
    options: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class NodeSpec:
    name: str  # ROS node name (interfaces.*_NODE)
    package: str
    executable: str  # console script (`ros2 run package executable`)
    module: str  # the same entry point as `python -m module` (the local launcher)
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: dict[str, Any] = field(default_factory=dict)
    condition: Equals | None = None  # start the node only when this holds


SIM = Equals("hand", "sim")
VISION = Equals("pose_source", "vision")
PHASESPACE_OBJECT_POSE_UNUSED = "/phasespace/object_pose"  # where the mocap object pose goes when vision provides it

ARGUMENTS = (
    Argument("hand", "sim", "sim: dactyl_sim plays the hand, motion capture and cameras (use_sim_time); "
             "real: the Shadow hand's controllers and a PhaseSpace server", ("sim", "real")),
    Argument("pose_source", "mocap", "where the object pose comes from: PhaseSpace markers or the three cameras",
             ("mocap", "vision")),
    Argument("policy", "models/policy_block.onnx", "exported ONNX control policy"),
    Argument("vision_model", "models/vision_block.onnx", "exported ONNX pose estimator (pose_source:=vision)"),
    Argument("trials", "10", "trials the trial manager runs (0: until stopped)"),
    Argument("seed", "0", "seed of the simulator's randomization and the goal draws"),
    Argument("nearby_goals", "0", "rad; 0: the paper's goals; > 0: the training curriculum's goals, each the object "
             "turned by this angle (to compare pose sources with a policy that reaches only those)"),
    Argument("nearby_axis", "random", "with nearby_goals > 0, what each goal turns the object about: a new random "
             "axis per goal, one random axis per trial (continuous rotation), a random signed world axis per goal "
             "(world), or one world axis, that way (x ... -z)",
             NEARBY_GOAL_AXES),
    Argument("randomization", "all", "the simulator's randomization groups (the paper's ablations)",
             ("all", "none", "no-obs-noise", "no-physics", "no-unmodeled")),
    Argument("real_time", "false", "sim: pace the simulator to the wall clock (else as fast as the graph allows)",
             ("true", "false")),
    Argument("controller_interface", "trajectory", "how the hand driver commands the hand: Shadow's trajectory "
             "controller or one position controller per motor", ("trajectory", "position")),
)

NODES = (
    NodeSpec(interfaces.SIM_NODE, "dactyl_sim", "sim_node", "dactyl_sim.sim_node",
             "MuJoCo stand-in for the hand, PhaseSpace and the cameras",
             parameters={"seed": Arg("seed", "int"), "randomization": Arg("randomization"),
                         "real_time": Arg("real_time", "bool"), "lockstep_timeout": 0.5,
                         "command_interface": Select("controller_interface", (("trajectory", "trajectory"),
                                                                              ("position", "position_controllers"))),
                         "camera_rate": Select("pose_source", (("mocap", 0.0), ("vision", 12.5)))},
             condition=SIM),
    NodeSpec(interfaces.HAND_NODE, "shadow_hand_driver", "hand_node", "shadow_hand_driver.hand_node",
             "the only path to the hand: validates, clamps, rate-limits and forwards policy commands",
             parameters={"controller_interface": Arg("controller_interface"), "autostart": True}),
    NodeSpec(interfaces.MOCAP_NODE, "shadow_hand_driver", "phasespace_node", "shadow_hand_driver.phasespace_node",
             "PhaseSpace markers -> object pose and fingertip positions",
             parameters={"source": Select("hand", (("sim", "topic"), ("real", "owl")))},
             remappings={interfaces.OBJECT_POSE: Select("pose_source", (("mocap", interfaces.OBJECT_POSE),
                                                                        ("vision", PHASESPACE_OBJECT_POSE_UNUSED)))}),
    NodeSpec(interfaces.VISION_NODE, "dactyl_vision", "vision_node", "dactyl_vision.vision_node",
             "object pose from the three cameras (ONNX pose estimator)",
             parameters={"model": Arg("vision_model")}, condition=VISION),
    NodeSpec(interfaces.POLICY_NODE, "dactyl_control", "policy_node", "dactyl_control.policy_node",
             "the LSTM policy: measured inputs -> joint targets every control period",
             parameters={"policy": Arg("policy")}),
    NodeSpec(interfaces.TRIAL_NODE, "dactyl_control", "trial_manager", "dactyl_control.trial_manager",
             "goals, success counting, per-trial results and the Table-3 row",
             parameters={"trials": Arg("trials", "int"), "seed": Arg("seed", "int"), "reset_sim": SIM,
                         "nearby_goal_angle": Arg("nearby_goals", "float"), "nearby_goal_axis": Arg("nearby_axis"),
                         "hand_node": Select("hand", (("sim", interfaces.HAND_NODE), ("real", ""))),
                         "policy_label": Arg("policy"), "randomization_label": Arg("randomization")},
             # In simulation trials are scored on the true pose, so estimator errors cannot flatter or
             # spoil the score; on the robot the measured pose is all there is.
             remappings={interfaces.OBJECT_POSE: Select("hand", (("sim", interfaces.SIM_GROUND_TRUTH_POSE),
                                                                 ("real", interfaces.OBJECT_POSE)))}),
)

USE_SIM_TIME = SIM  # every node gets use_sim_time = (hand == sim)


# ------------------------------------------------------------------------------- local evaluation

def validate_arguments(values: dict[str, str]) -> dict[str, str]:
    """Defaults filled in; an unknown argument or a value outside an argument's choices is an error."""
    known = {a.name: a for a in ARGUMENTS}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown launch argument(s) {unknown}; known: {sorted(known)}")
    resolved = {a.name: str(values.get(a.name, a.default)) for a in ARGUMENTS}
    for name, value in resolved.items():
        choices = known[name].choices
        if choices is not None and value not in choices:
            raise ValueError(f"argument {name}:={value!r} is not one of {list(choices)}")
    return resolved


def evaluate(expression: Any, values: dict[str, str]) -> Any:
    """The value of a parameter, remapping or condition expression under the given argument values."""
    if isinstance(expression, Arg):
        return _convert(values[expression.name], expression.type, expression.name)
    if isinstance(expression, Equals):
        return values[expression.name] == expression.value
    if isinstance(expression, Select):
        options = dict(expression.options)
        if values[expression.name] not in options:
            raise ValueError(f"argument {expression.name}:={values[expression.name]!r} selects nothing from {list(options)}")
        return options[values[expression.name]]
    return expression


def _convert(text: str, kind: str, name: str) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
    except ValueError:
        raise ValueError(f"argument {name}:={text!r} is not a valid {kind}") from None
    return text


@dataclass(frozen=True)
class ResolvedNode:
    spec: NodeSpec
    parameters: dict[str, Any]
    remappings: dict[str, str]


def resolve(values: dict[str, str]) -> list[ResolvedNode]:
    """The nodes to start for these arguments, with every expression evaluated."""
    values = validate_arguments(values)
    nodes = []
    for spec in NODES:
        if spec.condition is not None and not evaluate(spec.condition, values):
            continue
        parameters = {k: evaluate(v, values) for k, v in spec.parameters.items()}
        parameters["use_sim_time"] = evaluate(USE_SIM_TIME, values)
        remappings = {k: evaluate(v, values) for k, v in spec.remappings.items()}
        nodes.append(ResolvedNode(spec, parameters, {k: v for k, v in remappings.items() if k != v}))
    return nodes
