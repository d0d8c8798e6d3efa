"""A relay that loses messages: fault injection between two nodes (run as its own process).

Parameters: input, output (topics), type ('pkg/msg/Name'), drop (probability), seed. Messages are relayed
serialized, untouched, with the sensor QoS.
"""
import numpy as np
from rclpy.node import Node

from dactyl_ros import qos
from dactyl_ros.node_main import run_node
from dactyl_ros.recorder import message_class


class FaultRelay(Node):
    def __init__(self):
        super().__init__("fault_relay")
        p = {name: self.declare_parameter(name, default).value
             for name, default in (("input", ""), ("output", ""), ("type", ""), ("drop", 0.3), ("seed", 0))}
        self.drop = p["drop"]
        self.rng = np.random.default_rng(p["seed"])
        self.counts = {"in": 0, "out": 0}
        msg_type = message_class(p["type"])
        self.pub = self.create_publisher(msg_type, p["output"], qos.SENSOR)
        self.create_subscription(msg_type, p["input"], self.relay, qos.SENSOR, raw=True)

    def relay(self, data: bytes) -> None:
        self.counts["in"] += 1
        if self.rng.random() >= self.drop:
            self.pub.publish(data)
            self.counts["out"] += 1


if __name__ == "__main__":
    raise SystemExit(run_node(FaultRelay))
