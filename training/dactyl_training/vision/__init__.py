"""The pose estimator: network, render-set loading, training, ONNX export, evaluation."""
