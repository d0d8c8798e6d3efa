"""Declare a node's parameters from one table, each with a description and constraints.

    PARAMS = (
        Param("control_period", 0.08, "seconds between policy steps", minimum=0.001),
        Param("policy", "", "path of the ONNX policy", read_only=True),
    )
    values = declare(node, PARAMS)   # -> SimpleNamespace(control_period=0.08, policy="")

Values outside their range are refused by rclpy at declaration (from YAML or the command line), with the
parameter named, so a node never starts on a bad value.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from .node_main import StartupError


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        text = self.description + (f" (one of: {', '.join(self.choices)})" if self.choices else "")
        descriptor = ParameterDescriptor(description=text, read_only=self.read_only)
        if self.minimum is not None or self.maximum is not None:
            low = self.minimum if self.minimum is not None else -1e300
            high = self.maximum if self.maximum is not None else 1e300
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(max(low, -2**62)), to_value=int(min(high, 2**62)), step=0)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        return descriptor


def declare(node: Node, params: tuple[Param, ...]) -> SimpleNamespace:
    values = {}
    for p in params:
        try:
            values[p.name] = node.declare_parameter(p.name, p.default, p.descriptor()).value
        except Exception as err:  # rclpy raises several types for out-of-range / wrong-type values
            raise StartupError(f"parameter {p.name!r}: {err}") from err
        if p.choices is not None and values[p.name] not in p.choices:
            raise StartupError(f"parameter {p.name!r}: {values[p.name]!r} is not one of {list(p.choices)}")
    return SimpleNamespace(**values)
