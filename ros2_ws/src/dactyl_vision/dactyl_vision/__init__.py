"""Three-camera CNN pose estimator node (ONNX Runtime)."""
