"""One graph description: the launch file and `dactyl up` both come from dactyl_core.graph.

`launch` and `launch_ros` are not installable here, so the launch file runs against stand-ins of exactly
the classes it uses; the stand-ins record what they are given and evaluate launch substitutions the way
launch does, so the test compares what `ros2 launch` would start with what `dactyl up` starts.
"""
import importlib.util
import itertools
import json
import sys
import types
from pathlib import Path

import pytest

from dactyl_core import graph, interfaces

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "dactyl.launch.py"


class Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorded):
    def perform(self, values):
        return values[self.args[0]]


class PythonExpression(Recorded):
    def perform(self, values):
        return str(eval("".join(_perform(part, values) for part in self.args[0])))  # as launch does


class IfCondition(Recorded):
    def holds(self, values):
        return _perform(self.args[0], values).lower() == "true"


class ParameterValue(Recorded):
    def perform(self, values):
        text = _perform(self.args[0], values)
        kind = self.kwargs["value_type"]
        return text.lower() == "true" if kind is bool else kind(text)


def _perform(value, values):
    return value.perform(values) if hasattr(value, "perform") else value


@pytest.fixture
def launch_module(monkeypatch):
    stubs = {
        "launch": {"LaunchDescription": Recorded},
        "launch.actions": {"DeclareLaunchArgument": Recorded, "LogInfo": Recorded},
        "launch.conditions": {"IfCondition": IfCondition},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration, "PythonExpression": PythonExpression},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Recorded},
        "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
    }
    for name, attributes in stubs.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("dactyl_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launched_nodes(launch_module, values):
    """What `ros2 launch` would start for these argument values: name -> (package, executable, params, remaps)."""
    description = launch_module.generate_launch_description()
    started = {}
    for action in description.args[0]:
        if action.__class__ is not Recorded or "package" not in action.kwargs:
            continue
        k = action.kwargs
        if k["condition"] is not None and not k["condition"].holds(values):
            continue
        params = {name: _perform(value, values) for name, value in k["parameters"][0].items()}
        remaps = {source: _perform(target, values) for source, target in k["remappings"]}
        started[k["name"]] = (k["package"], k["executable"], params, {s: t for s, t in remaps.items() if s != t})
    return started


ALL_VALUES = [dict(zip(("hand", "pose_source", "controller_interface"), combo))
              for combo in itertools.product(("sim", "real"), ("mocap", "vision"), ("trajectory", "position"))]


def test_launch_arguments_are_the_descriptions(launch_module):
    description = launch_module.generate_launch_description()
    declared = [a for a in description.args[0] if "default_value" in a.kwargs]
    assert [(a.args[0], a.kwargs["default_value"], tuple(a.kwargs.get("choices", ())) or None) for a in declared] == \
        [(a.name, a.default, a.choices) for a in graph.ARGUMENTS]
    assert all(a.kwargs["description"] for a in declared)
    log = [a for a in description.args[0] if "msg" in a.kwargs]
    assert log, "the chosen backend is logged at start"


@pytest.mark.parametrize("values", ALL_VALUES, ids=lambda v: "-".join(v.values()))
def test_launch_file_and_local_launcher_start_the_same_graph(launch_module, values):
    values = graph.validate_arguments(values)
    launched = launched_nodes(launch_module, values)
    local = {n.spec.name: (n.spec.package, n.spec.executable, n.parameters, n.remappings) for n in graph.resolve(values)}
    assert launched == local
    for _, _, params, _ in launched.values():
        assert params["use_sim_time"] is (values["hand"] == "sim")
    assert (interfaces.SIM_NODE in local) is (values["hand"] == "sim")
    assert (interfaces.VISION_NODE in local) is (values["pose_source"] == "vision")


def test_the_launch_file_holds_no_graph_of_its_own(launch_module, monkeypatch):
    """A node added to the description appears in the launch file: it reads graph.py, it has no copy."""
    extra = graph.NodeSpec("extra_node", "extra_pkg", "extra_exe", "extra.module", "a test node", parameters={"x": 1})
    monkeypatch.setattr(graph, "NODES", graph.NODES + (extra,))
    values = graph.validate_arguments({})
    assert launched_nodes(launch_module, values)["extra_node"][:2] == ("extra_pkg", "extra_exe")
    text = LAUNCH_FILE.read_text()
    for spec in graph.NODES[:-1]:
        assert spec.package not in text and spec.name not in text


def test_up_has_the_launch_arguments_and_refuses_bad_values():
    from dactyl_ros.verbs.up import UpVerb
    import argparse

    parser = argparse.ArgumentParser()
    UpVerb().add_arguments(parser)
    args = parser.parse_args([])
    assert {a.name: getattr(args, a.name) for a in graph.ARGUMENTS} == {a.name: a.default for a in graph.ARGUMENTS}
    with pytest.raises(ValueError, match="hand:='robot' is not one of"):
        graph.validate_arguments({"hand": "robot"})  # never a silent fall-back to real hardware
    with pytest.raises(ValueError, match="unknown launch argument"):
        graph.validate_arguments({"hands": "sim"})
    with pytest.raises(ValueError, match="not a valid int"):
        graph.resolve({"trials": "ten"})


def test_node_modules_and_console_scripts_exist():
    from importlib.metadata import entry_points

    scripts = {(ep.value.split(":")[0], ep.name) for ep in entry_points(group="console_scripts")}
    for spec in graph.NODES:
        if spec.package == "dactyl_vision" and importlib.util.find_spec(spec.module) is None:
            continue  # the vision node comes with the vision work
        assert importlib.util.find_spec(spec.module) is not None, spec.module
        assert (spec.module, spec.executable) in scripts, f"{spec.package}: console script {spec.executable}"


def test_up_reports_the_trial_managers_results_as_evaluate_does(tmp_path, capsys):
    from dactyl_ros.launcher import report_trials

    assert not report_trials({}, {}, 1.0, None, None)  # nothing finished: nothing to report
    latest = {"trials": [3, 0, 5], "reasons": ["timed_out", "dropped", "timed_out"], "policy": "p.onnx",
              "randomization": "all", "object": "block", "seed": 1, "goals": "nearby 0.7 rad", "env_steps": 900,
              "complete": True}
    values = {"hand": "sim", "pose_source": "vision"}
    out = tmp_path / "up.json"
    counts = {"forwarded": 898, "rejected": 1, "clamped": 0, "rate_limited": 2, "watchdog_holds": 0}
    sim_counts = {"resets": 3, "lockstep_timeouts": 4, "rejected": 0, "beyond_limits": 0, "unstable": 0}
    assert report_trials(latest, values, 12.34, tmp_path / "a.mcap", out, {"shadow_hand": counts, "dactyl_sim": sim_counts})
    printed = capsys.readouterr().out
    assert "consecutive successes (3 trials, hand sim, pose from vision, goals nearby 0.7 rad): 2.7 +- 2.1" in printed
    assert "1 drops, 2 timeouts" in printed
    assert ("hand driver: 898 commands forwarded, 1 rejected, 0 clamped to joint limits, 2 rate-limited, "
            "0 watchdog holds") in printed
    assert ("simulator: 3 resets, 4 control periods without a command in time (lockstep timeouts), 0 malformed "
            "commands rejected, 0 commands beyond joint limits, 0 unstable simulations") in printed
    data = json.loads(out.read_text())
    assert data["trials"] == [3, 0, 5] and data["seed"] == 1 and data["drops"] == 1
    assert data["extra"] == {"graph": values, "wall_seconds": 12.3, "mcap": str(tmp_path / "a.mcap"), "complete": True,
                             "hand_driver": counts, "simulator": sim_counts}
    # No report from a node (it never came up, or the real hand has no simulator): no line, and null in the JSON.
    assert report_trials(latest, values, 12.34, None, out, {"shadow_hand": counts})
    printed = capsys.readouterr().out
    assert "hand driver: 898" in printed and "simulator:" not in printed
    assert json.loads(out.read_text())["extra"]["simulator"] is None
    assert report_trials(latest, values, 12.34, None, out)
    assert "hand driver:" not in capsys.readouterr().out
    assert json.loads(out.read_text())["extra"]["hand_driver"] is None
