"""The local launcher: start the graph of `dactyl_core.graph` as processes, follow the trials, record.

`dactyl up` is this module. It resolves the graph description for the given arguments (the same
description `launch/dactyl.launch.py` translates for `ros2 launch`), starts every node as
`python -m <module> --ros-args ...` with its parameters in a YAML file and its log in the run folder, joins
the graph itself to print progress and record every topic to MCAP, and ends when the trial manager reports
the last trial, printing the Table-3 row.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from dactyl_core.graph import ResolvedNode


@dataclass
class NodeProcess:
    node: ResolvedNode
    process: subprocess.Popen
    log_path: Path

    @property
    def name(self) -> str:
        return self.node.spec.name

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def node_command(node: ResolvedNode, params_file: Path) -> list[str]:
    """The command line of one node: its module's entry point with ROS arguments."""
    args = [sys.executable, "-m", node.spec.module, "--ros-args", "-r", f"__node:={node.spec.name}",
            "--params-file", str(params_file)]
    for source, target in node.remappings.items():
        args += ["-r", f"{source}:={target}"]
    return args


def graph_environment(base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # a demo stays on this machine unless told
    env.update(PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0")
    return env


class GraphProcesses:
    """The graph's node processes: start, watch, stop (SIGINT first, as ros2 launch does)."""

    def __init__(self, nodes: list[ResolvedNode], run_dir: Path, env: dict | None = None):
        self.nodes = nodes
        self.run_dir = Path(run_dir)
        self.env = graph_environment(env)
        self.processes: dict[str, NodeProcess] = {}

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            self.start_node(node)

    def start_node(self, node: ResolvedNode) -> NodeProcess:
        name = node.spec.name
        params_file = self.run_dir / f"{name}.params.yaml"
        params_file.write_text(yaml.safe_dump({name: {"ros__parameters": node.parameters}}))
        log_path = self.run_dir / f"{name}.log"
        with open(log_path, "a") as log:
            process = subprocess.Popen(node_command(node, params_file), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes[name] = NodeProcess(node, process, log_path)
        return self.processes[name]

    def exited(self) -> list[NodeProcess]:
        return [p for p in self.processes.values() if p.process.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        for p in self.processes.values():
            if p.process.poll() is None:
                p.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for p in self.processes.values():
            try:
                p.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.process.pid, signal.SIGKILL)
                p.process.wait()


DISCOVERY_WAIT_S = 3.0  # how long `dactyl up` looks for a graph already running on its domain


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def graph_nodes_already_running(monitor, executor, names: set[str]) -> list[str]:
    """Names of this graph's nodes that some other process already runs on the monitor's domain."""
    deadline = time.monotonic() + DISCOVERY_WAIT_S
    found: set[str] = set()
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        seen = names & set(monitor.get_node_names())
        if seen and not found:
            deadline = min(deadline, time.monotonic() + 0.3)  # one found: a moment more to name the others
        found = seen
    return sorted(found)


def run_up(arguments: dict[str, str], run_dir: Path, record: Path | None, json_out: Path | None,
           timeout: float, progress: bool = True) -> int:
    """Start the graph, follow K trials, print the Table-3 row; returns the exit code."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from dactyl_core import graph

    values = graph.validate_arguments(arguments)
    nodes = graph.resolve(values)
    processes = GraphProcesses(nodes, run_dir)
    print(f"dactyl up: hand:={values['hand']} pose_source:={values['pose_source']} policy:={values['policy']} "
          f"use_sim_time:={str(values['hand'] == 'sim').lower()}; {int(values['trials']) or 'unlimited'} trials")
    print(f"nodes: {', '.join(n.spec.name for n in nodes)}; logs in {run_dir}/")

    context = rclpy.Context()
    domain_id = int(processes.env.get("ROS_DOMAIN_ID", "0") or 0)
    rclpy.init(context=context, domain_id=domain_id)
    monitor = rclpy.create_node("dactyl_up", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(monitor)
    try:
        others = graph_nodes_already_running(monitor, executor, {n.spec.name for n in nodes})
        if others:
            print(f"dactyl up: another graph is running on ROS domain {domain_id} (nodes {', '.join(others)}); two "
                  "graphs on one domain read each other's messages and reset each other's simulator. Stop it, or "
                  f"start this one on its own domain: ROS_DOMAIN_ID={domain_id + 1} dactyl up ...", file=sys.stderr)
            return 2
        return _follow_trials(monitor, executor, processes, values, record, json_out, timeout, progress)
    finally:
        monitor.destroy_node()
        context.try_shutdown()


def _follow_trials(monitor, executor, processes: GraphProcesses, values: dict, record: Path | None,
                   json_out: Path | None, timeout: float, progress: bool) -> int:
    """Start the node processes, record and count trials until the trial manager says complete, stop them."""
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String
    from tqdm import tqdm

    from dactyl_core import interfaces

    from . import qos
    from .recorder import McapRecorder

    trials = int(values["trials"])
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the nodes too, as Ctrl-C does
    recorder = McapRecorder(monitor, record) if record else None
    latest: dict = {}
    bar = tqdm(total=trials or None, desc="trials", unit="trial", file=sys.stderr, disable=not progress)

    def on_event(msg: String) -> None:
        event = json.loads(msg.data)
        if event.get("event") == "trial_end":
            bar.update(1)
            bar.write(f"trial {event['trial']}: {event['successes']} consecutive successes ({event['reason']})")
        elif event.get("event") == "success":
            bar.set_postfix(trial=event["trial"], successes=event["successes"])

    def on_results(msg: String) -> None:
        latest.clear()
        latest.update(json.loads(msg.data))

    node_counts: dict[str, dict[str, int]] = {}  # node -> its counters, from its last /diagnostics report

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name in interfaces.REPORTED_COUNTERS:
                values = {kv.key: kv.value for kv in status.values}
                _, counters = interfaces.REPORTED_COUNTERS[status.name]
                node_counts.setdefault(status.name, {}).update(
                    {key: int(values[key]) for key in counters if values.get(key, "").isdigit()})

    monitor.create_subscription(String, interfaces.TRIAL_EVENTS, on_event, qos.EVENTS)
    monitor.create_subscription(String, interfaces.TRIAL_RESULTS, on_results, qos.LATCHED)
    monitor.create_subscription(DiagnosticArray, interfaces.DIAGNOSTICS, on_diagnostics, qos.EVENTS)
    started = time.monotonic()
    status = 0
    processes.start()
    try:
        while not latest.get("complete"):
            executor.spin_once(timeout_sec=0.1)
            dead = processes.exited()
            if dead:
                for p in dead:
                    print(f"dactyl up: node {p.name} exited with code {p.process.returncode}; its log ends:\n"
                          f"{p.log_tail()}", file=sys.stderr)
                status = 1
                break
            if timeout and time.monotonic() - started > timeout:
                print(f"dactyl up: {timeout:g} s passed before the trials finished", file=sys.stderr)
                status = 1
                break
    except KeyboardInterrupt:
        print("dactyl up: interrupted", file=sys.stderr)
        status = 130
    finally:
        bar.close()
        processes.stop()
        if recorder is not None:
            for _ in range(5):  # messages still in flight
                executor.spin_once(timeout_sec=0.02)
            recorder.close()
        signal.signal(signal.SIGTERM, previous_sigterm)

    if not report_trials(latest, values, time.monotonic() - started, record, json_out, node_counts):
        print("dactyl up: no trial finished", file=sys.stderr)
        status = status or 1
    if recorder is not None:
        print(f"recorded {recorder.total} messages on {len(recorder.counts)} topics to {record} "
              "(open it in Foxglove)")
    return status


def report_trials(latest: dict, values: dict, wall: float, record: Path | None, json_out: Path | None,
                  node_counts: dict[str, dict[str, int]] | None = None) -> bool:
    """Print the trial manager's last results as the Table-3 row, and what the hand driver's safety filter and
    the simulator counted (`node_counts`: node -> counters, see interfaces.REPORTED_COUNTERS), and write them
    as JSON; False if no trial finished. A node that never reported gets no line and null in the JSON."""
    from dactyl_core.evaluate import EvaluationResult, write_json
    from dactyl_core.interfaces import REPORTED_COUNTERS

    if not latest.get("trials"):
        return False
    node_counts = node_counts or {}
    reports = {name: (node_counts.get(node) or None, labels) for node, (name, labels) in REPORTED_COUNTERS.items()}
    result = EvaluationResult(latest["trials"], latest["reasons"], policy=latest["policy"],
                              randomization=latest["randomization"], object=latest["object"], seed=latest["seed"],
                              goals=latest.get("goals", ""), env_steps=latest["env_steps"],
                              extra={"graph": values, "wall_seconds": round(wall, 1),
                                     "mcap": str(record) if record else None, "complete": bool(latest.get("complete")),
                                     **{name.replace(" ", "_"): counts for name, (counts, _) in reports.items()}})
    print(f"consecutive successes ({len(result.trials)} trials, hand {values['hand']}, pose from "
          f"{values['pose_source']}, goals {result.goals}): {result.table_row()}")
    print(result.summary())
    for name, (counts, labels) in reports.items():
        if counts:
            counted = [f"{counts[key]} {label}" for key, label in labels.items() if key in counts]
            print(f"{name}: " + ", ".join(counted) + " (its last /diagnostics report)")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        write_json(result, json_out)
        print(f"wrote {json_out}")
    return True
