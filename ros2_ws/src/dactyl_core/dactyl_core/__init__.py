"""dactyl_core: what training and the ROS nodes share. Pure Python; never imports rclpy.

Importing it picks MuJoCo's offscreen GL backend before MuJoCo is loaded: EGL where an NVIDIA GPU exists,
OSMesa (CPU) otherwise, unless MUJOCO_GL is already set.
"""
import os as _os


def _default_gl_backend() -> str:
    return "egl" if _os.path.exists("/dev/nvidia0") else "osmesa"


_os.environ.setdefault("MUJOCO_GL", _default_gl_backend())
if _os.environ["MUJOCO_GL"] in ("osmesa", "egl"):
    _os.environ.setdefault("PYOPENGL_PLATFORM", _os.environ["MUJOCO_GL"])

__version__ = "0.1.0"
