"""The LSTM control policy node (ONNX Runtime) and the trial manager."""
