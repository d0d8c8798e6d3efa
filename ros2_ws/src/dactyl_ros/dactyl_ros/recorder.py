"""Record every topic of a running graph to an MCAP file that Foxglove (or `ros2 bag`) opens.

Messages are written as they arrive on the wire (serialized CDR, no decoding), with the ROS 2 message
definitions as schemas (`ros2msg`, the `.msg` text with its dependencies, the form MCAP's ROS 2 profile
specifies). New topics are picked up while recording. Latched topics (transient local) are subscribed
the same way, so their last message is recorded even when it was published before the recorder joined.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import time
from pathlib import Path

from mcap.writer import CompressionType, Writer
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
              "int64", "uint64", "string", "wstring"}
SEPARATOR = "=" * 80


def _share_dirs() -> list[Path]:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    return [Path(p) / "share" for p in prefixes]


def _msg_file(package: str, name: str) -> Path:
    for share in _share_dirs():
        path = share / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no definition {package}/msg/{name}.msg under {[str(s) for s in _share_dirs()]}")


def _dependencies(package: str, text: str) -> list[str]:
    """Complex field types used by a .msg text, as package/Name."""
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        base = re.sub(r"<=\d+$", "", re.sub(r"\[.*\]$", "", words[0]))  # drop array and bound suffixes
        if base not in PRIMITIVES:
            found.append(base if "/" in base else f"{package}/{base}")
    return found


def message_definition(type_name: str) -> str:
    """The ros2msg schema text for 'pkg/msg/Name': its .msg text, then each dependency once."""
    package, _, name = type_name.split("/")
    main = _msg_file(package, name).read_text()
    parts, seen = [main], set()
    queue = _dependencies(package, main)
    while queue:
        dependency = queue.pop(0).replace("/msg/", "/")
        if dependency in seen:
            continue
        seen.add(dependency)
        dep_package, dep_name = dependency.split("/")
        text = _msg_file(dep_package, dep_name).read_text()
        parts.append(f"{SEPARATOR}\nMSG: {dep_package}/{dep_name}\n{text}")
        queue.extend(_dependencies(dep_package, text))
    return "\n".join(parts)


def message_class(type_name: str):
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class McapRecorder:
    """Subscribes (raw) to every topic the node can see and writes each message to `path`."""

    def __init__(self, node: Node, path: str | Path, discovery_period: float = 0.2):
        self.node = node
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self.writer = Writer(self._file, compression=CompressionType.ZSTD)
        self.writer.start(profile="ros2", library="dactyl")
        self.lock = threading.Lock()
        self.channels: dict[str, int] = {}
        self.schemas: dict[str, int] = {}
        self.subscriptions = []
        self.counts: dict[str, int] = {}
        self.skipped: dict[str, str] = {}
        self.closed = False
        self.discover()
        self.timer = node.create_timer(discovery_period, self.discover)

    def discover(self) -> None:
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.channels or topic in self.skipped:
                continue
            publishers = self.node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: wait to see whether a publisher latches
            type_name = types[0]
            try:
                schema = self.schemas.get(type_name)
                if schema is None:
                    schema = self.writer.register_schema(type_name.replace("/msg/", "/"), "ros2msg",
                                                         message_definition(type_name).encode())
                    self.schemas[type_name] = schema
                msg_type = message_class(type_name)
            except (FileNotFoundError, ImportError, AttributeError, ValueError) as err:
                self.skipped[topic] = str(err)
                self.node.get_logger().warn(f"not recording {topic}: {err}")
                continue
            with self.lock:
                self.channels[topic] = self.writer.register_channel(topic, "cdr", schema)
                self.counts[topic] = 0
            self.subscriptions.append(self.node.create_subscription(
                msg_type, topic, lambda data, topic=topic: self.write(topic, data), self._qos(publishers), raw=True))

    @staticmethod
    def _qos(publishers) -> QoSProfile:
        """Best effort hears every publisher; transient local too when a publisher latches."""
        latched = any(info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for info in publishers)
        if latched:
            return QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
        return QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)

    def write(self, topic: str, data: bytes) -> None:
        now = time.time_ns()
        with self.lock:
            if self.closed:
                return
            self.writer.add_message(self.channels[topic], log_time=now, data=data, publish_time=now,
                                    sequence=self.counts[topic])
            self.counts[topic] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.node.destroy_timer(self.timer)
            for subscription in self.subscriptions:
                self.node.destroy_subscription(subscription)
            self.writer.finish()
            self._file.close()
