"""How a node says what is wrong: throttled log lines per kind of problem, and its /diagnostics status.

rclpy's own `throttle_duration_sec` throttles per call site, so one helper that logs every bad message
would hide a second, different problem behind the first. `ThrottledLog` throttles per problem key and
says how many repeats it held back.
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE)


class ThrottledLog:
    def __init__(self, logger, period: float = 1.0, clock=time.monotonic):
        self.logger = logger
        self.period = period
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}

    def _due(self, key: str, message: str) -> str | None:
        """The line to log now, or None while this problem is throttled."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return None
        repeats = self._held_back.pop(key, 0)
        self._last[key] = now
        return message + (f" ({repeats} more like this since the last report)" if repeats else "")

    # One call site per severity: rclpy refuses a call site that logs at changing severities.
    def error(self, key: str, message: str) -> None:
        if (line := self._due(key, message)) is not None:
            self.logger.error(line)

    def warn(self, key: str, message: str) -> None:
        if (line := self._due(key, message)) is not None:
            self.logger.warning(line)

    def info(self, key: str, message: str) -> None:
        if (line := self._due(key, message)) is not None:
            self.logger.info(line)


def diagnostic_array(stamp, name: str, level: int, message: str, values: dict | None = None,
                     hardware_id: str = "") -> DiagnosticArray:
    """One status in a DiagnosticArray; `values` become key/value pairs (str() of each value)."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=str(k), value=str(v)) for k, v in (values or {}).items()])
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
