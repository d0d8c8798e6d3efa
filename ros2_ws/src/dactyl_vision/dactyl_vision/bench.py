"""`dactyl bench-vision`: how fast the pose estimator runs, measured against baselines in the same run.

1. Inference latency for one three-camera frame set (batch 1) with ONNX Runtime, as the node runs it,
   next to the same architecture in torch eager mode (rebuilt from the model's metadata; needs the
   training package), interleaved in rounds.
2. End to end through Fast DDS: the vision node as its own process; a publisher sends the three camera
   images of a frame set and waits for the pose with that stamp before sending the next (lockstep),
   so the rate is what the node sustains with nothing queued, and the latency is image publish -> pose.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from dactyl_core.cli import CommandError, Verb


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000.0
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def time_calls(call, repeats: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def inference_latency(model_path: str, repeats: int, threads: int, rounds: int) -> dict:
    """ONNX Runtime vs torch eager on the same frame set, interleaved in rounds (a busy machine hits both)."""
    from dactyl_core.vision.pose_model import OnnxPoseEstimator

    estimator = OnnxPoseEstimator(model_path, threads=threads)
    meta = estimator.metadata
    images = np.random.default_rng(0).integers(0, 256, (1, len(meta.cameras), meta.image_height, meta.image_width, 3), np.uint8)
    torch_call = _torch_baseline(meta.network, images, threads)
    onnx_samples, torch_samples = [], []
    for _ in range(rounds):
        onnx_samples += time_calls(lambda: estimator.estimate(images), repeats // rounds)
        if torch_call is not None:
            torch_samples += time_calls(torch_call, repeats // rounds, warmup=5)
    result = {"onnxruntime": percentiles_ms(onnx_samples), "frame_set_shape": list(images.shape[1:]), "threads": threads}
    if torch_samples:
        result["torch_eager"] = percentiles_ms(torch_samples)
    return result


def _torch_baseline(network_json: str, images: np.ndarray, threads: int):
    """The same architecture (from the model's metadata) in torch eager mode; the weights do not change its cost."""
    try:
        import torch

        from dactyl_training.vision.pose_net import PoseNet, PoseNetConfig
    except ImportError:  # a robot install without the training package: ONNX Runtime figures only
        return None
    config = json.loads(network_json)
    if not config:
        return None
    torch.set_num_threads(threads)
    model = PoseNet(PoseNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})).eval()
    batch = torch.from_numpy(images)

    def call():
        with torch.inference_mode():
            model(batch)

    return call


class _Lockstep:
    """The bench's own rclpy node: publishes frame sets as the cameras would and waits for each pose."""

    def __init__(self, domain_id: int, cameras: list[str], shape: tuple[int, int]):
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image

        from dactyl_core import interfaces
        from dactyl_ros import qos

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("bench_vision", context=self.context)
        self.publishers = [self.node.create_publisher(Image, interfaces.camera_image(c), qos.SENSOR) for c in cameras]
        self.node.create_subscription(PoseStamped, interfaces.OBJECT_POSE, self._on_pose, qos.SENSOR)
        self.received: dict[int, float] = {}
        self.event = threading.Event()
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()
        rng = np.random.default_rng(1)
        self.images = [rng.integers(0, 256, (*shape, 3), np.uint8) for _ in cameras]
        self.Image = Image

    def _spin(self):
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if not self.context.ok():
                    return

    def _on_pose(self, msg) -> None:
        self.received[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = time.perf_counter()
        self.event.set()

    def send(self, k: int) -> int:
        from builtin_interfaces.msg import Time
        from std_msgs.msg import Header

        stamp = Time(sec=1000 + k // 1000, nanosec=(k % 1000) * 1_000_000)
        for pub, image in zip(self.publishers, self.images):
            pub.publish(self.Image(header=Header(stamp=stamp), height=image.shape[0], width=image.shape[1], encoding="rgb8",
                                   step=image.shape[1] * 3, data=image.tobytes()))
        return stamp.sec * 1_000_000_000 + stamp.nanosec

    def close(self) -> None:
        self.node.destroy_node()
        self.context.try_shutdown()
        self.thread.join(timeout=2)


def end_to_end(model_path: str, frame_sets: int, threads: int, timeout: float = 60.0) -> dict:
    """Lockstep frame sets through the vision node process over Fast DDS."""
    from dactyl_core import interfaces
    from dactyl_core.vision.pose_model import OnnxPoseEstimator

    meta = OnnxPoseEstimator(model_path).metadata
    domain = random.randint(101, 200)
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    node = subprocess.Popen([sys.executable, "-m", "dactyl_vision.vision_node", "--ros-args", "-r",
                             f"__node:={interfaces.VISION_NODE}", "-p", f"model:={Path(model_path).resolve()}",
                             "-p", f"onnx_threads:={threads}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    bench = _Lockstep(domain, list(meta.cameras), (meta.image_height, meta.image_width))
    try:
        deadline = time.monotonic() + timeout
        k = 0
        while not bench.received:  # discovery: best-effort sets sent before it completes are lost
            if node.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"the vision node gave no pose: {node.stderr.read()[-2000:] if node.poll() is not None else 'timeout'}")
            bench.send(k)
            k += 1
            time.sleep(0.1)
        latencies, lost = [], 0
        start = time.perf_counter()
        for i in range(frame_sets):
            bench.event.clear()
            stamp = bench.send(10_000 + i)
            sent = time.perf_counter()
            while stamp not in bench.received:
                if not bench.event.wait(timeout=1.0):
                    lost += 1
                    break
                bench.event.clear()
            else:
                latencies.append(bench.received[stamp] - sent)
        duration = time.perf_counter() - start
    finally:
        bench.close()
        node.terminate()
        node.wait(timeout=10)
    return {"frame_sets": frame_sets, "lost": lost, "rate_hz": len(latencies) / duration, "publish_to_pose": percentiles_ms(latencies)}


class BenchVisionVerb(Verb):
    help = "benchmark the pose estimator: ONNX Runtime latency per frame set vs torch, and the vision node's end-to-end rate"

    def add_arguments(self, parser):
        parser.add_argument("--model", default="models/vision_block.onnx", help="ONNX pose estimator")
        parser.add_argument("--repeats", type=int, default=1000, help="inference calls per engine (default 1000)")
        parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
        parser.add_argument("--frame-sets", type=int, default=300, help="lockstep frame sets through the node (default 300)")
        parser.add_argument("--threads", type=int, default=1, help="intra-op threads, as the node's onnx_threads (default 1)")
        parser.add_argument("--skip-node", action="store_true", help="only the inference latency")
        parser.add_argument("--json", default=None, help="also write the results to this JSON file")

    def main(self, args) -> int:
        if not Path(args.model).is_file():
            raise CommandError(f"{args.model} does not exist")
        result = {"model": args.model, "cpu_count": os.cpu_count(),
                  "inference": inference_latency(args.model, args.repeats, args.threads, args.rounds)}
        inference = result["inference"]
        onnx = inference["onnxruntime"]
        print(f"inference, one frame set {inference['frame_set_shape']} uint8, batch 1, {args.threads} thread(s), "
              f"{args.repeats} calls in {args.rounds} interleaved rounds")
        print(f"  {'engine':<14} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        for name in ("onnxruntime", "torch_eager"):
            if name in inference:
                s = inference[name]
                print(f"  {name:<14} {s['p50']:>8.2f} {s['p99']:>8.2f} {s['mean']:>8.2f}")
        if "torch_eager" in inference:
            print(f"  onnxruntime speed-up over torch eager (p50): {inference['torch_eager']['p50'] / onnx['p50']:.2f}x")
        print(f"  target p99 < 25 ms: {'met' if onnx['p99'] < 25.0 else 'NOT met'} ({onnx['p99']:.2f} ms)")
        if not args.skip_node:
            e2e = result["end_to_end"] = end_to_end(args.model, args.frame_sets, args.threads)
            p = e2e["publish_to_pose"]
            print(f"end to end through Fast DDS (vision node process, lockstep, {e2e['frame_sets']} frame sets, "
                  f"{e2e['lost']} lost): {e2e['rate_hz']:.1f} frame sets/s; publish -> pose p50 {p['p50']:.2f} ms, "
                  f"p99 {p['p99']:.2f} ms ({p['p50'] / onnx['p50']:.2f}x the inference p50)")
            print(f"  the policy needs one pose per 80 ms control step (12.5/s): "
                  f"{'met' if e2e['rate_hz'] >= 12.5 else 'NOT met'}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
            print(f"wrote {args.json}")
        return 0
