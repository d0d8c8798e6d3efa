"""The multi-process harness itself: a node in another process reaches the probe over DDS."""
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
