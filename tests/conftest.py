"""Shared fixtures. Importing dactyl_core first selects MuJoCo's headless GL backend."""
import dactyl_core  # noqa: F401  (sets MUJOCO_GL before mujoco is imported anywhere)
import pytest

from dactyl_core.scene import cached_scene


@pytest.fixture(scope="session")
def block_scene():
    return cached_scene("block")


@pytest.fixture(scope="session")
def prism_scene():
    return cached_scene("prism")


@pytest.fixture
def ros_graph(tmp_path):
    """A private ROS 2 domain with a probe node; started node processes are stopped afterwards."""
    from ros_harness import RosGraph

    graph = RosGraph(tmp_path)
    yield graph
    graph.close()


@pytest.fixture(scope="session")
def untrained_policy(tmp_path_factory):
    """An exported, randomly initialised LSTM policy with full metadata (`dactyl export --untrained`)."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("policy") / "policy_untrained.onnx"
    subprocess.run([sys.executable, "-m", "dactyl_core.cli", "export", "--untrained", "--out", str(path)], check=True,
                   capture_output=True, text=True)
    return path
