"""A lifecycle node that survives a transition request that is not valid in its current state.

rclpy (Jazzy) raises from its `~/change_state` service when asked, say, to activate an active node; the
exception escapes the executor and the node dies. rclcpp answers such a request with success=false. The
hand driver must not die because a second launcher or an operator sent the wrong transition, so these
nodes answer like rclcpp and log the refusal. This wraps rclpy's own service callback
(`_service_change_state`, Jazzy); the lifecycle tests of both drivers fail if that ever changes.
"""
from __future__ import annotations

from rclpy._rclpy_pybind11 import RCLError
from rclpy.lifecycle import LifecycleNode


class SafeLifecycleNode(LifecycleNode):
    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        service = self._service_change_state
        change_state = service.callback

        def refuse_invalid(request, response):
            try:
                return change_state(request, response)
            except RCLError as err:
                state = self._state_machine.current_state[1]
                self.get_logger().error(f"refused lifecycle transition {request.transition.id} "
                                        f"{request.transition.label!r} in state {state!r}: {err}")
                response.success = False
                return response

        service.callback = refuse_invalid
