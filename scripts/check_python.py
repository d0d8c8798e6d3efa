"""Fail early, and say why, when the interpreter cannot run this project."""
import sys

SUPPORTED = ((3, 10), (3, 13))  # ROS 2 Jazzy wheels on PyPI exist for CPython 3.10 to 3.13

version = sys.version_info[:2]
if not (SUPPORTED[0] <= version <= SUPPORTED[1]):
    sys.exit(
        f"[setup] Python {version[0]}.{version[1]} at {sys.executable} is not supported: dactyl needs "
        f"CPython {SUPPORTED[0][0]}.{SUPPORTED[0][1]} to {SUPPORTED[1][0]}.{SUPPORTED[1][1]} "
        "(the ROS 2 Jazzy wheels exist only for those). Run `make PYTHON=/path/to/python3.11 setup`."
    )
if sys.implementation.name != "cpython":
    sys.exit(f"[setup] {sys.implementation.name} is not supported: use CPython (`make PYTHON=python3.11 setup`).")
try:
    import venv  # noqa: F401
    import ensurepip  # noqa: F401
except ImportError:
    sys.exit("[setup] this Python lacks venv/ensurepip: install it (Debian: `apt-get install python3-venv`).")
