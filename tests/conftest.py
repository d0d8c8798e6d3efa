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
    foreign = graph.foreign_nodes()
    graph.close()
    if foreign:
        pytest.fail(f"nodes {foreign} joined this test's ROS domain {graph.domain_id}: another graph shares it "
                    f"(a developer's ROS_DOMAIN_ID?), so the test's result cannot be trusted")


@pytest.fixture(scope="session")
def untrained_policy(tmp_path_factory):
    """An exported, randomly initialised LSTM policy with full metadata (`dactyl export --untrained`)."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("policy") / "policy_untrained.onnx"
    subprocess.run([sys.executable, "-m", "dactyl_core.cli", "export", "--untrained", "--out", str(path)], check=True,
                   capture_output=True, text=True)
    return path


@pytest.fixture(scope="session")
def small_pose_model(tmp_path_factory):
    """A small untrained three-camera pose estimator exported with full metadata: (torch model, ONNX path)."""
    import torch

    from dactyl_core.interfaces import CAMERA_NAMES
    from dactyl_training.vision.export import export_pose_model, pose_model_metadata
    from dactyl_training.vision.pose_net import PoseNet, PoseNetConfig

    torch.manual_seed(0)
    model = PoseNet(PoseNetConfig(channels=(8, 8, 16, 16), hidden=32)).eval()
    path = tmp_path_factory.mktemp("pose_model") / "small_pose.onnx"
    export_pose_model(model, pose_model_metadata(model, list(CAMERA_NAMES), "block", "untrained test model"), path)
    return model, path
