"""Training, evaluation and ONNX export of focal-loss detectors."""
