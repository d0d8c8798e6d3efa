"""The multi-process harness itself: a node in another process reaches the probe over DDS; a node the test
did not start is noticed."""
import textwrap

from std_msgs.msg import String


def test_messages_cross_processes_in_a_private_domain(ros_graph, tmp_path):
    module = tmp_path / "talker.py"
    module.write_text(textwrap.dedent("""
        from std_msgs.msg import String
        from rclpy.node import Node
        from dactyl_ros.node_main import run_node
        from dactyl_ros import qos

        class Talker(Node):
            def __init__(self):
                super().__init__("talker")
                self.pub = self.create_publisher(String, "/chatter", qos.SENSOR)
                self.create_timer(0.02, lambda: self.pub.publish(String(data="hello")))

        raise SystemExit(run_node(Talker))
    """))
    ros_graph.env["PYTHONPATH"] = str(tmp_path)
    log = ros_graph.probe.subscribe("/chatter", String)
    talker = ros_graph.start("talker", "talker")
    ros_graph.wait_until(lambda: len(log) >= 5, 20, "5 messages from the talker process")
    assert log.last().data == "hello"
    assert talker.stop() == 0  # SIGINT ends the node cleanly


def test_a_node_from_another_graph_in_the_domain_is_reported(ros_graph):
    """A second graph sharing a test's domain would answer its messages; the fixture fails the test then."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_graph.domain_id)
    intruder = rclpy.create_node("intruder", context=context)
    try:
        ros_graph.wait_until(lambda: "intruder" in ros_graph.probe.node.get_node_names(), 20, "the intruder")
        assert ros_graph.foreign_nodes() == ["intruder"]
    finally:
        intruder.destroy_node()
        context.try_shutdown()
    ros_graph.wait_until(lambda: not ros_graph.foreign_nodes(), 20, "the intruder to leave")
