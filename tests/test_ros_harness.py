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


def test_a_shutdown_during_a_callback_is_a_clean_stop(ros_graph):
    """Ctrl-C or SIGTERM shuts the context down while a callback publishes (rclpy raises RCLError, not
    ExternalShutdownException): the node still exits 0 without a traceback."""
    import textwrap

    module = ros_graph.tmp_path / "racer.py"
    module.write_text(textwrap.dedent("""
        import rclpy
        from rclpy.node import Node
        from std_msgs.msg import String
        from dactyl_ros.node_main import run_node

        class Racer(Node):
            def __init__(self):
                super().__init__("racer")
                self.pub = self.create_publisher(String, "/race", 1)
                self.create_timer(0.05, self.race)

            def race(self):
                rclpy.shutdown()  # what the signal handler does, here mid-callback
                self.pub.publish(String(data="too late"))

        raise SystemExit(run_node(Racer))
    """))
    ros_graph.env["PYTHONPATH"] = str(ros_graph.tmp_path)
    racer = ros_graph.start("racer", "racer")
    ros_graph.wait_until(lambda: not racer.alive, 30, "the racer to stop")
    assert racer.process.returncode == 0 and "Traceback" not in racer.output(), racer.output()
