"""The vision side of dactyl's core: visual randomization, the render-set shard format, the pose-model
contract and its ONNX Runtime runner. Pure Python (numpy, MuJoCo, OpenCV, ONNX Runtime); no torch, no rclpy.
"""
