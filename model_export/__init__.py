"""Training, evaluation and ONNX export of focal-loss detectors.

`python -m model_export --help` for the command line; from Python: `train(TrainConfig(...)) -> TrainResult`.
"""

from .anchors import AnchorConfig, make_anchors, match_anchors
from .coco import CocoDetection, load_coco
from .evaluate import COCOMetrics, coco_map, evaluate_detector
from .export import ExportError, check_parity, export_onnx, write_repository
from .head import CLASSIFICATION_LOSSES, RetinaHead, resolve_loss
from .model import Detector, DetectorConfig
from .postprocess import PostprocessConfig, postprocess
from .preprocess import InputSpec, letterbox, preprocess
from .synthetic import CLASSES, SyntheticConfig, generate
from .train import EvalRecord, TrainConfig, TrainResult, train

__all__ = [
    "CLASSES",
    "CLASSIFICATION_LOSSES",
    "AnchorConfig",
    "COCOMetrics",
    "CocoDetection",
    "Detector",
    "DetectorConfig",
    "EvalRecord",
    "ExportError",
    "InputSpec",
    "PostprocessConfig",
    "RetinaHead",
    "SyntheticConfig",
    "TrainConfig",
    "TrainResult",
    "check_parity",
    "coco_map",
    "evaluate_detector",
    "export_onnx",
    "generate",
    "letterbox",
    "load_coco",
    "make_anchors",
    "match_anchors",
    "postprocess",
    "preprocess",
    "resolve_loss",
    "train",
    "write_repository",
]
