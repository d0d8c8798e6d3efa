"""The pose estimator: its loss, a tiny training run, resume, and ONNX export parity with metadata."""
import numpy as np
import pytest
import torch

from dactyl_core import interfaces, rotations
from dactyl_core.onnx_models import ModelContractError
from dactyl_core.vision.dataset import open_dataset
from dactyl_core.vision.pose_model import FrameSetError, OnnxPoseEstimator, PoseModelMetadata, check_frame_set
from dactyl_core.vision.render_set import RenderJob, render_dataset
from dactyl_training.vision.data import pool_images
from dactyl_training.vision.pose_net import PoseNet, PoseNetConfig, angular_error
from dactyl_training.vision.train import VisionTrainConfig, load_checkpoint, native_bfloat16, train

TINY = PoseNetConfig(channels=(8, 8, 16, 16), hidden=32)


@pytest.fixture(scope="module")
def render_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision") / "renders"
    render_dataset(RenderJob(out=str(root), sets=8, shard_size=4, seed=11, envs=2), show_progress=False)
    return root


def test_angular_error_is_the_rotation_angle_and_ignores_the_quaternion_sign():
    rng = np.random.default_rng(0)
    a = rotations.random_uniform(rng, 64)
    b = rotations.random_uniform(rng, 64)
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    np.testing.assert_allclose(angular_error(ta, tb).numpy(), rotations.distance(a, b), atol=1e-5)
    np.testing.assert_allclose(angular_error(ta, -tb).numpy(), angular_error(ta, tb).numpy(), atol=1e-9)
    assert angular_error(ta, -ta).max() < 1e-3


def test_training_pooling_matches_the_graph(render_set):
    images = open_dataset(render_set).load_shard(open_dataset(render_set).shards[0])["images"]
    pooled = pool_images(images, TINY)
    graph = PoseNet(TINY).pool(torch.from_numpy(images)).numpy()
    assert pooled.shape == graph.shape == (len(images), 3, 3, 80, 80)
    assert np.abs(pooled - graph).max() <= 0.5 + 1e-4  # the cached copy is rounded to uint8


def test_a_tiny_training_run_lowers_the_loss_and_resumes(render_set, tmp_path):
    config = VisionTrainConfig(data=str(render_set), run_dir=str(tmp_path / "run"), steps=60, batch_size=8,
                               learning_rate=3e-3, checkpoint_every=20, threads=1, network=TINY)
    summary = train(config, show_progress=False)
    losses = [h["loss"] for h in summary["history"]]
    assert summary["steps"] == 60 and summary["train_sets"] == 8
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), (losses[:10], losses[-10:])
    longer = train(VisionTrainConfig(**{**config.__dict__, "steps": 70}), show_progress=False)
    assert longer["steps"] == 70 and len(longer["history"]) == 70 and longer["history"][:60] == summary["history"]
    model, state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == 70 and model.config == TINY
    # bfloat16 left unset follows the CPU (emulated bfloat16 on AVX2-only CPUs is ~15x slower)
    assert state["train_config"]["bfloat16"] is native_bfloat16()


def test_onnx_export_matches_torch_and_describes_itself(small_pose_model, render_set):
    model, path = small_pose_model
    estimator = OnnxPoseEstimator(path, expected_cameras=interfaces.CAMERA_NAMES)
    meta = estimator.metadata
    assert meta.cameras == interfaces.CAMERA_NAMES and (meta.image_height, meta.image_width) == (200, 200)
    assert meta.encoding == "rgb8" and meta.output_frame == interfaces.WORLD_FRAME and meta.position_units == "m"
    assert meta.crop == model.config.crop and meta.pixel_mean == model.config.pixel_mean
    assert "(w, x, y, z)" in meta.orientation_convention
    dataset = open_dataset(render_set)
    real = dataset.load_shard(dataset.shards[0])["images"][:3]
    noise = np.random.default_rng(0).integers(0, 256, (1, 3, 200, 200, 3), dtype=np.uint8)
    for images in (real, noise, real[:1]):
        with torch.no_grad():
            position, orientation = model(torch.from_numpy(images))
        onnx_position, onnx_orientation = estimator.estimate(images)
        np.testing.assert_allclose(onnx_position, position.numpy(), atol=1e-5)
        np.testing.assert_allclose(onnx_orientation, orientation.numpy(), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(onnx_orientation, axis=1), 1.0, atol=1e-5)


def test_the_runner_refuses_other_models_and_other_cameras(small_pose_model, tmp_path):
    _, path = small_pose_model
    with pytest.raises(ModelContractError, match="takes cameras"):
        OnnxPoseEstimator(path, expected_cameras=("a", "b", "c"))
    from dactyl_training.export import export_policy, policy_metadata  # a control policy is not a pose model
    from dactyl_core.env import load_env_config
    from dactyl_core.observations import POLICY_LAYOUT
    from dactyl_training.networks import NetworkConfig, PolicyNetwork

    policy = PolicyNetwork(POLICY_LAYOUT.size, 20, 11, NetworkConfig(dense=16, lstm=8, recurrent=False))
    policy_path = export_policy(policy, policy_metadata(policy, load_env_config()), tmp_path / "policy.onnx")
    with pytest.raises(ModelContractError, match="expected a 'pose_estimator' model"):
        OnnxPoseEstimator(policy_path)


def test_frame_set_check_names_what_is_wrong(small_pose_model):
    meta = OnnxPoseEstimator(small_pose_model[1]).metadata
    good = [np.zeros((200, 200, 3), np.uint8)] * 3
    check_frame_set(meta, list(meta.cameras), good, ["rgb8"] * 3)
    with pytest.raises(FrameSetError, match="count and order"):
        check_frame_set(meta, list(meta.cameras[:2]), good[:2], ["rgb8"] * 2)
    with pytest.raises(FrameSetError, match="cam_center: encoding 'bgr8'"):
        check_frame_set(meta, list(meta.cameras), good, ["rgb8", "bgr8", "rgb8"])
    with pytest.raises(FrameSetError, match=r"float32\[200, 200, 3\]"):
        check_frame_set(meta, list(meta.cameras), [good[0], good[1], good[2].astype(np.float32)], ["rgb8"] * 3)
    assert PoseModelMetadata.from_props(meta.to_props()) == meta


def test_bench_vision_reports_onnx_latency_next_to_torch(small_pose_model, tmp_path):
    import json
    import subprocess
    import sys

    _, path = small_pose_model
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "bench-vision", "--model", str(path), "--skip-node",
                          "--repeats", "20", "--rounds", "2", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "speed-up over torch eager" in run.stdout and "target p99 < 25 ms" in run.stdout
    result = json.loads(out.read_text())["inference"]
    assert set(result["onnxruntime"]) == set(result["torch_eager"]) == {"p50", "p99", "mean"}


def test_recorded_graph_poses_are_scored_against_the_ground_truth_with_the_same_stamp(tmp_path):
    from geometry_msgs.msg import PoseStamped
    from mcap.writer import Writer
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from dactyl_core.vision.evaluation import recorded_pose_errors
    from dactyl_ros.conversions import pose_to_msg, seconds_to_stamp
    from dactyl_ros.recorder import message_definition

    path = tmp_path / "graph.mcap"
    with open(path, "wb") as f:
        writer = Writer(f)
        writer.start(profile="ros2", library="test")
        schema = writer.register_schema(name="geometry_msgs/msg/PoseStamped", encoding="ros2msg",
                                        data=message_definition("geometry_msgs/msg/PoseStamped").encode())
        channels = {t: writer.register_channel(topic=t, message_encoding="cdr", schema_id=schema)
                    for t in (interfaces.OBJECT_POSE, interfaces.SIM_GROUND_TRUTH_POSE)}
        turn = rotations.from_axis_angle(np.array([0.0, 0.0, 1.0]), np.radians(5.0))

        def write(topic, t, position, quat):
            msg = PoseStamped(header=Header(stamp=seconds_to_stamp(t), frame_id="world"), pose=pose_to_msg(position, quat))
            writer.add_message(channels[topic], log_time=int(t * 1e9), data=serialize_message(msg), publish_time=int(t * 1e9))

        for k in range(10):
            t, height = 1.0 + 0.08 * k, 0.16 if k < 8 else 0.05  # the last two: the object has fallen off the hand
            truth = np.array([1.0, 0.87, height])
            write(interfaces.SIM_GROUND_TRUTH_POSE, t, truth, rotations.IDENTITY)
            write(interfaces.OBJECT_POSE, t, truth + [0.003, 0.0, 0.0], turn)
        write(interfaces.OBJECT_POSE, 9.0, np.array([1.0, 0.87, 0.16]), rotations.IDENTITY)  # no ground truth at this stamp
        writer.finish()
    result = recorded_pose_errors(path)
    assert result["poses_published"] == 11 and result["matched_on_hand"] == 8
    assert result["position_mm"]["median"] == pytest.approx(3.0, abs=1e-6)
    assert result["orientation_deg"]["p90"] == pytest.approx(5.0, abs=1e-4)
