"""`dactyl bench-graph` runs and reports the policy-node latency next to its same-run DDS baseline."""
import json
import subprocess
import sys


def test_bench_graph_latency_figures(ros_graph, untrained_policy, tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "bench-graph", "--policy", str(untrained_policy),
                             "--steps", "40", "--skip-graph", "--no-progress", "--run-dir", str(tmp_path / "run"),
                             "--json", str(out)], env=ros_graph.env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "baseline, Fast DDS round trip" in result.stdout and "ratio policy round trip / DDS round trip" in result.stdout
    latency = json.loads(out.read_text())["latency"]
    assert latency["dds_round_trip_ms"]["n"] >= 30 and latency["policy_round_trip_ms"]["n"] >= 30
    node = latency["policy_node_ms"]
    assert 0 < node["latency_in_node_p50_ms"] <= node["latency_from_stamp_p50_ms"] + 1e-6
    assert node["latency_from_stamp_samples"] >= 30
