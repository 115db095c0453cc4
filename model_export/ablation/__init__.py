"""The loss ablation behind `python -m model_export ablate`: settings, runner, table and summary."""

from .report import EvalPoint, SettingResult, iterations_to_fraction, markdown_table
from .runner import FULL, QUICK, AblationConfig, SettingOutcome, run_ablation
from .settings import SETTINGS, LossSetting

__all__ = [
    "FULL",
    "QUICK",
    "SETTINGS",
    "AblationConfig",
    "EvalPoint",
    "LossSetting",
    "SettingOutcome",
    "SettingResult",
    "iterations_to_fraction",
    "markdown_table",
    "run_ablation",
]
