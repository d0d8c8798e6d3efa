"""The entry point every dactyl node uses: init, spin, and a clean exit on Ctrl-C or SIGTERM."""
from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Create the node with `factory` after rclpy.init and spin it until shutdown.

    rclpy's signal handlers turn SIGINT and SIGTERM into a shutdown, so launchers stop nodes gracefully.
    A node that cannot start (bad parameters, a model that does not fit) logs why; the process exits 1.
    """
    rclpy.init(args=sys.argv if args is None else args)
    node = None
    status = 0
    try:
        node = factory()
        executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        if rclpy.ok():
            raise
        # The signal handler shut the context down while a callback was publishing or the executor was
        # building its wait set: rclpy raises this instead of ExternalShutdownException. A clean stop.
    except StartupError as err:
        (node.get_logger() if node else rclpy.logging.get_logger("dactyl")).fatal(str(err))
        status = 1
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return status


class StartupError(RuntimeError):
    """A node cannot start: the message says what is wrong and how to fix it."""
