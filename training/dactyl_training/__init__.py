"""Offline training for dactyl: PPO with LSTM policy and value, Ray rollouts, the vision pose estimator, ONNX export."""
