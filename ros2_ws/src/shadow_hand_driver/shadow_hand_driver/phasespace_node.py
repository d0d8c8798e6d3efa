"""The PhaseSpace node: motion-capture markers in, object pose and fingertip positions out (world frame).

Markers come either from the markers topic (sensor_msgs/PointCloud2, what dactyl_sim publishes; a bridge
from any other source can publish it too) or straight from a PhaseSpace server through the vendor's OWL
Python module (`source: owl`). Each frame is fitted by `dactyl_core.mocap.MarkerFitter`: the object pose
from its marker layout (Kabsch; < 3 markers or a high residual is refused and said so) and the five
fingertip markers. Outputs are stamped with the measurement time, not the time of publishing.

A fingertip whose marker is momentarily unseen keeps its last position for `fingertip_hold_time` (the
marker "freezing" training simulates); the fingertips are published only while all five are known.
"""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from dactyl_core import interfaces, mocap
from dactyl_core.config import ConfigError
from dactyl_core.scene import cached_scene
from dactyl_ros import health, qos
from dactyl_ros.conversions import pose_to_msg, seconds_to_stamp, stamp_to_seconds
from dactyl_ros.lifecycle import SafeLifecycleNode
from dactyl_ros.markers import cloud_to_markers
from dactyl_ros.node_main import StartupError, run_node
from dactyl_ros.params import Param, declare

TOPIC, OWL = "topic", "owl"
OWL_MISSING = ("source 'owl' needs PhaseSpace's OWL Python module (`import owl`: owl.py of the PhaseSpace "
               "libowl2 SDK, shipped with the Impulse server software). Put the SDK's python directory on "
               "PYTHONPATH or copy owl.py into this environment; or use source:=topic with a markers publisher")

PARAMS = (
    Param("source", TOPIC, f"where markers come from: the {interfaces.MOCAP_MARKERS} topic or a PhaseSpace server "
          "through the OWL Python module", choices=(TOPIC, OWL), read_only=True),
    Param("object", "block", "the tracked object; its marker layout comes from the scene", choices=("block", "prism"),
          read_only=True),
    Param("calibration_file", "", "PhaseSpace -> world calibration YAML (empty: dactyl_core's "
          "config/mocap_calibration.yaml)", read_only=True),
    Param("min_markers", 3, "fewest object markers a pose is fitted from (>= 3)", minimum=3, maximum=64),
    Param("max_residual_mm", 10.0, "largest rms fit residual (mm) a pose is published with", minimum=0.1,
          maximum=100.0),
    Param("fingertip_hold_time", 0.5, "s a fingertip keeps its last position while its marker is unseen",
          minimum=0.0, maximum=10.0),
    Param("owl_server", "localhost", "PhaseSpace server address (source owl)", read_only=True),
    Param("owl_frequency", 120.0, "Hz the PhaseSpace server streams frames at (source owl)", minimum=1.0,
          maximum=960.0, read_only=True),
    Param("owl_timeout", 5.0, "s to wait for the PhaseSpace server to connect and initialise (source owl)",
          minimum=0.1, maximum=60.0, read_only=True),
    Param("autostart", True, "configure and activate at start (it only reads; false leaves it to a lifecycle manager)",
          read_only=True),
    Param("log_period", 1.0, "s between repeated log lines about the same problem", minimum=0.0, maximum=60.0),
    Param("diagnostics_period", 1.0, "s between /diagnostics reports", minimum=0.05, maximum=60.0),
)


class PhaseSpaceNode(SafeLifecycleNode):
    """Lifecycle: configure loads the calibration and opens the source, activate publishes poses."""

    def __init__(self, **kwargs):
        super().__init__(interfaces.MOCAP_NODE, **kwargs)
        self.params = p = declare(self, PARAMS)
        self.log = health.ThrottledLog(self.get_logger(), p.log_period)
        self.lock = threading.Lock()  # frames arrive from the executor (topic) or the OWL thread
        self.fitter: mocap.MarkerFitter | None = None
        self.active = False
        self.fingertips = mocap.FingertipHold(p.fingertip_hold_time)
        self.counts = {"frames": 0, "poses": 0, "refused_fits": 0, "bad_frames": 0, "fingertip_sets": 0}
        self.last_residual_mm = float("nan")
        self.problem = "unconfigured: call configure then activate"
        self.pose_publisher = self.tips_publisher = self.subscription = self.owl_thread = None
        self.stopping = threading.Event()
        self.diagnostics = self.create_publisher(DiagnosticArray, interfaces.DIAGNOSTICS, qos.EVENTS)
        self.create_timer(p.diagnostics_period, self.publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        if p.autostart:
            self._autostart_timer = self.create_timer(0.01, self._autostart, clock=Clock(clock_type=ClockType.STEADY_TIME))

    # ------------------------------------------------------------------------------------- lifecycle

    def _autostart(self) -> None:
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise StartupError(self.problem)
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            raise StartupError(f"activate failed: {self.problem}")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.params
        try:
            calibration = mocap.load_calibration(Path(p.calibration_file) if p.calibration_file else None)
            layout = cached_scene(p.object).object_marker_layout
            self.fitter = mocap.MarkerFitter(layout, calibration, p.min_markers, p.max_residual_mm / mocap.MM_PER_M)
        except ConfigError as err:
            return self.refuse(f"mocap calibration: {err}")
        if p.source == OWL:
            try:
                owl = importlib.import_module("owl")
            except ImportError as err:
                return self.refuse(f"{OWL_MISSING} ({err})")
        self.pose_publisher = self.create_lifecycle_publisher(PoseStamped, interfaces.OBJECT_POSE, qos.SENSOR)
        self.tips_publisher = self.create_lifecycle_publisher(PoseArray, interfaces.FINGERTIPS, qos.SENSOR)
        if p.source == TOPIC:
            self.subscription = self.create_subscription(PointCloud2, interfaces.MOCAP_MARKERS, self.on_cloud, qos.SENSOR)
            where = interfaces.MOCAP_MARKERS
        else:
            self.stopping.clear()
            self.owl_thread = threading.Thread(target=self.read_owl, args=(owl,), daemon=True)
            self.owl_thread.start()
            where = f"PhaseSpace server {p.owl_server} (OWL)"
        self.problem = "inactive: call activate to publish poses"
        self.get_logger().info(f"fitting the {p.object} ({len(layout)} markers, ids {self.fitter.object_ids.tolist()}; "
                               f"fingertips {self.fitter.fingertip_ids.tolist()}) from {where}")
        return super().on_configure(state)

    def refuse(self, reason: str) -> TransitionCallbackReturn:
        self.problem = reason
        self.get_logger().error(reason)
        return TransitionCallbackReturn.FAILURE

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        with self.lock:
            self.active = True
            self.problem = "no marker frame received yet"
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self.lock:
            self.active = False
            self.problem = "inactive: call activate to publish poses"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close_source()
        self.problem = "unconfigured: call configure then activate"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.close_source()
        return super().on_shutdown(state)

    def close(self) -> None:
        """Called by run_node on exit: end the OWL session cleanly."""
        if self.owl_thread is not None:
            self.stopping.set()
            self.owl_thread.join(timeout=2.0)
            self.owl_thread = None

    def close_source(self) -> None:
        self.close()
        if self.subscription is not None:
            self.destroy_subscription(self.subscription)
            self.subscription = None
        for publisher in (self.pose_publisher, self.tips_publisher):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self.pose_publisher = self.tips_publisher = None

    # ------------------------------------------------------------------------------------- sources

    def on_cloud(self, cloud: PointCloud2) -> None:
        if not self.active:
            return
        if cloud.header.frame_id != interfaces.MOCAP_FRAME:
            self.bad_frame(f"marker cloud in frame {cloud.header.frame_id!r}; expected {interfaces.MOCAP_FRAME!r} "
                           "(PhaseSpace millimetres, Y up)")
            return
        try:
            frame = cloud_to_markers(cloud)
        except ValueError as err:
            self.bad_frame(str(err))
            return
        self.process(frame, cloud.header.stamp)

    def read_owl(self, owl) -> None:
        """Connect (retrying), stream, and process frames until the node stops."""
        p = self.params
        while not self.stopping.is_set():
            offset = None  # ROS time - server time, the smallest seen: maps server time onto the ROS clock
            context = owl.Context()
            try:
                context.open(p.owl_server, f"timeout={int(p.owl_timeout * 1e6)}")
                context.initialize(f"event.markers=1 event.rigids=0 frequency={p.owl_frequency} "
                                   f"timeout={int(p.owl_timeout * 1e6)}")
                context.timeBase(1, 1_000_000)  # event times in microseconds
                context.streaming(1)
                self.get_logger().info(f"streaming from PhaseSpace server {p.owl_server} at {p.owl_frequency} Hz")
                while not self.stopping.is_set() and context.isOpen() and context.property("initialized"):
                    event = context.nextEvent(100_000)
                    if event is None:
                        continue
                    if event.type_id == owl.Type.ERROR:
                        self.log.error("owl_error", f"PhaseSpace server error: {event.name}: {getattr(event, 'data', '')}")
                        continue
                    if event.name == "done":
                        self.log.error("owl_done", "the PhaseSpace server ended the session; reconnecting")
                        break
                    if event.type_id != owl.Type.FRAME or "markers" not in event:
                        continue
                    now = self.get_clock().now().nanoseconds * 1e-9
                    server_time = event.time * 1e-6
                    offset = now - server_time if offset is None else min(offset, now - server_time)
                    self.process(owl_frame(event.markers), seconds_to_stamp(server_time + offset))
            except (owl.OWLError, OSError) as err:  # the SDK raises both for connection problems
                self.problem = f"PhaseSpace server {p.owl_server}: {err or type(err).__name__}"
                self.log.error("owl_connect", f"{self.problem}; retrying in 1 s")
            finally:
                try:
                    context.done()
                    context.close()
                except Exception:  # a connection that never opened has nothing to close
                    pass
            self.stopping.wait(1.0)

    # ------------------------------------------------------------------------------------- fitting

    def bad_frame(self, reason: str) -> None:
        self.counts["bad_frames"] += 1
        self.problem = f"malformed marker frame: {reason}"
        self.log.error("bad_frame", f"marker frame ignored: {reason}")

    def process(self, frame: mocap.MarkerFrame, stamp: Time) -> None:
        with self.lock:
            if not self.active:
                return
            self.counts["frames"] += 1
            header = Header(stamp=stamp, frame_id=interfaces.WORLD_FRAME)
            try:
                pose = self.fitter.object_pose(frame)
            except mocap.PoseFitError as err:
                self.counts["refused_fits"] += 1
                self.problem = f"object pose not published: {err}"
                self.log.warn("fit", self.problem)
            else:
                self.counts["poses"] += 1
                self.last_residual_mm = pose.rms_residual * mocap.MM_PER_M
                self.problem = ""
                self.pose_publisher.publish(PoseStamped(header=header, pose=pose_to_msg(pose.position, pose.quat)))
            self.publish_fingertips(frame, header)

    def publish_fingertips(self, frame: mocap.MarkerFrame, header: Header) -> None:
        now = stamp_to_seconds(header.stamp)
        stale = self.fingertips.update(*self.fitter.fingertips(frame), now)
        if stale.any():
            missing = [f.upper() for f, s in zip(("ff", "mf", "rf", "lf", "th"), stale) if s]
            self.problem = (f"fingertips not published: markers of {missing} unseen for more than "
                            f"{self.params.fingertip_hold_time} s (ids {self.fitter.fingertip_ids[stale].tolist()})")
            self.log.warn("fingertips", self.problem)
            return
        self.counts["fingertip_sets"] += 1
        identity = Quaternion(w=1.0)
        self.tips_publisher.publish(PoseArray(header=header, poses=[
            Pose(position=Point(x=float(x), y=float(y), z=float(z)), orientation=identity) for x, y, z in self.fingertips.positions]))

    def publish_diagnostics(self) -> None:
        with self.lock:
            problem = self.problem
            values = {"source": self.params.source, "rms_residual_mm": f"{self.last_residual_mm:.2f}", **self.counts}
        level = health.OK if not problem else health.WARN
        self.diagnostics.publish(health.diagnostic_array(self.get_clock().now().to_msg(), interfaces.MOCAP_NODE, level,
                                                         problem or "publishing object pose", values))


def owl_frame(markers) -> mocap.MarkerFrame:
    """OWL Marker objects (id, x, y, z, cond) -> a MarkerFrame; the last report of a repeated id wins."""
    latest = {int(m.id): m for m in markers}
    ids = np.array(sorted(latest), dtype=np.uint32)
    positions = np.array([[latest[i].x, latest[i].y, latest[i].z] for i in ids.tolist()], dtype=np.float64).reshape(-1, 3)
    cond = np.array([latest[i].cond for i in ids.tolist()], dtype=np.float64)
    return mocap.MarkerFrame(ids, positions, cond)


def main(args=None) -> int:
    return run_node(PhaseSpaceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
