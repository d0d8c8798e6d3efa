"""Launch the dactyl graph on a machine with ROS 2 installed: `ros2 launch launch/dactyl.launch.py hand:=sim`.

Everything comes from the one graph description, `dactyl_core.graph` (the local launcher `dactyl up` reads
the same description): the arguments with their defaults and choices, the nodes, their parameters,
remappings and conditions. This file only translates that description into launch actions.
"""
from dactyl_core import graph
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _equals(expression):
    """`argument == value`, evaluated by launch at run time (as the string 'True' or 'False')."""
    return PythonExpression(["'", LaunchConfiguration(expression.name), "' == ", repr(expression.value)])


def _select(expression):
    return PythonExpression([repr(dict(expression.options)), "['", LaunchConfiguration(expression.name), "']"])


def _substitution(expression):
    """A launch substitution (or a plain value) for one expression of the graph description."""
    if isinstance(expression, graph.Arg):
        return ParameterValue(LaunchConfiguration(expression.name), value_type=_TYPES[expression.type])
    if isinstance(expression, graph.Equals):
        return ParameterValue(_equals(expression), value_type=bool)
    if isinstance(expression, graph.Select):
        kinds = {type(value) for _, value in expression.options}
        return ParameterValue(_select(expression), value_type=kinds.pop() if len(kinds) == 1 else str)
    return expression


def _remapping(expression):
    if isinstance(expression, graph.Select):
        return _select(expression)
    if isinstance(expression, graph.Arg):
        return LaunchConfiguration(expression.name)
    return expression


def generate_launch_description():
    actions = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                                     **({"choices": list(a.choices)} if a.choices else {}))
               for a in graph.ARGUMENTS]
    actions.append(LogInfo(msg=["dactyl: hand:=", LaunchConfiguration("hand"), " pose_source:=",
                                LaunchConfiguration("pose_source"), " policy:=", LaunchConfiguration("policy"),
                                " use_sim_time:=", _equals(graph.USE_SIM_TIME)]))
    for spec in graph.NODES:
        parameters = {name: _substitution(value) for name, value in spec.parameters.items()}
        parameters["use_sim_time"] = _substitution(graph.USE_SIM_TIME)
        actions.append(Node(
            package=spec.package, executable=spec.executable, name=spec.name, output="screen",
            parameters=[parameters],
            remappings=[(source, _remapping(target)) for source, target in spec.remappings.items()],
            condition=IfCondition(_equals(spec.condition)) if spec.condition is not None else None,
        ))
    return LaunchDescription(actions)
