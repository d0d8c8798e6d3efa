"""A stand-in for PhaseSpace's `owl` module (libowl2 Python API, owl.py) for tests: no server exists here.

It speaks the real module's shape: `Context().open(name, options)`, `initialize(options)`, `timeBase`,
`frequency`, `streaming(1)`, `isOpen()`, `property(name)`, `nextEvent(timeout_usec)` returning `Event`s
(`type_id == Type.FRAME`, `"markers" in event`, `event.markers` of `Marker(id, flags, time, x, y, z, cond)`,
`event.time` in timebase units), `done()`, `close()`, and the `OWLError` family. Frames are scripted:
FAKE_OWL_FRAMES names a JSON file {"period_us": int, "frames": [[[id, x, y, z, cond], ...], ...]} that is
played in a loop at its period; the server name "unreachable" fails to open as a dead server does.
"""
import json
import os
import time


class Type:
    INVALID = 0
    BYTE = 1
    INT = 2
    FLOAT = 3
    ERROR = 0x7F
    EVENT = 0x80
    FRAME = EVENT
    MARKER = 0x84


class OWLError(Exception):
    pass


class OpenError(OWLError):
    pass


class InitError(OWLError):
    pass


class Event:
    def __init__(self, type_id, id, flags=0, time=0, type_name=None, name=None, **kwargs):
        self.type_id, self.id, self.flags, self.time, self.type_name, self.name = type_id, id, flags, time, type_name, name
        for key, value in kwargs.items():
            self[key] = value

    def __getitem__(self, key):
        return self.__dict__[key]

    def __setitem__(self, key, item):
        self.__dict__[key] = item

    def __contains__(self, key):
        return key in self.__dict__


class Marker:
    __slots__ = ["id", "flags", "time", "x", "y", "z", "cond"]

    def __init__(self, id, flags=0, time=-1, x=0.0, y=0.0, z=0.0, cond=-1.0):
        self.id, self.flags, self.time, self.x, self.y, self.z, self.cond = id, flags, time, x, y, z, cond


def _options(text):
    return dict(item.split("=", 1) for item in text.split())


class Context:
    SERVER_TIME_ORIGIN_US = 7_000_000_000  # the server's clock is not the ROS clock

    def __init__(self):
        self._properties = {"opened": 0, "initialized": 0, "streaming": 0, "timebase": [0, 0], "frequency": 0.0}
        script = json.loads(open(os.environ["FAKE_OWL_FRAMES"]).read())
        self._period_us = int(script["period_us"])
        self._frames = script["frames"]
        self._next = 0
        self._start = None

    def open(self, name, open_options=""):
        if name == "unreachable":
            raise OpenError("connection timed out")
        self._properties.update(opened=1, name=name)
        return 1

    def isOpen(self):
        return self._properties["opened"] == 1

    def initialize(self, init_options=""):
        if not self.isOpen():
            raise InitError("no connection")
        options = _options(init_options)
        self._properties.update(initialized=1, frequency=float(options.get("frequency", 960.0)))
        return 1

    def timeBase(self, num=None, denom=None):
        if num is None:
            return self._properties["timebase"]
        self._properties["timebase"] = [int(num), int(denom)]

    def frequency(self, freq=None):
        if freq is None:
            return self._properties["frequency"]
        self._properties["frequency"] = float(freq)

    def streaming(self, enable=None):
        if enable is None:
            return self._properties["streaming"]
        self._properties["streaming"] = int(enable)
        self._start = time.monotonic()

    def property(self, name):
        return self._properties[name]

    def nextEvent(self, timeout_usec=0):
        if not self._properties["streaming"]:
            time.sleep(timeout_usec * 1e-6)
            return None
        due = self._start + self._next * self._period_us * 1e-6
        wait = due - time.monotonic()
        if wait > timeout_usec * 1e-6:
            time.sleep(timeout_usec * 1e-6)
            return None
        time.sleep(max(wait, 0.0))
        server_us = self.SERVER_TIME_ORIGIN_US + self._next * self._period_us
        markers = [Marker(int(i), 0, server_us, x, y, z, c) for i, x, y, z, c in self._frames[self._next % len(self._frames)]]
        self._next += 1
        num, denom = self._properties["timebase"] if self._properties["timebase"][0] else (1, 1_000_000)
        return Event(Type.FRAME, self._next, 0, server_us * denom // (num * 1_000_000), markers=markers)

    def done(self, done_options=""):
        self._properties["initialized"] = 0
        return 1

    def close(self):
        self._properties.update(opened=0, initialized=0, streaming=0)
