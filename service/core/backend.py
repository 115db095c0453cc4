"""ONNX Runtime sessions: provider choice (CUDA when it works, else CPU), session options, what runs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ..errors import Unavailable

__all__ = ["create_session", "provider_plan", "session_options"]

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
#: cuDNN's exhaustive convolution search costs seconds per new shape; the heuristic is near-optimal here.
CUDA_OPTIONS: dict[str, str] = {"cudnn_conv_algo_search": "HEURISTIC"}

ProviderList = list[str | tuple[str, dict[str, str]]]


def session_options(intra_op_threads: int, inter_op_threads: int) -> ort.SessionOptions:
    """Options for a small host: all graph optimisations, sequential execution, threads as given, no spinning.

    Spinning worker threads would steal the CPU the HTTP server and preprocessing need on a 2-core host.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def provider_plan(preferences: Sequence[str], available: Sequence[str]) -> list[ProviderList]:
    """The provider lists to try, in order, for the configured preferences (``auto``, ``cuda``, ``cpu``).

    ``auto`` tries CUDA (if this onnxruntime build has it), then CPU; ``cuda`` alone insists on CUDA.
    """
    plans: list[ProviderList] = []
    for pref in preferences:
        if pref in ("auto", "cuda") and CUDA in available:
            plans.append([(CUDA, dict(CUDA_OPTIONS)), CPU])
        if pref in ("auto", "cpu"):
            plans.append([CPU])
    unique: list[ProviderList] = []
    for plan in plans:
        if plan not in unique:
            unique.append(plan)
    return unique


def create_session(
    path: Path, *, preferences: Sequence[str], intra_op_threads: int, inter_op_threads: int
) -> tuple[ort.InferenceSession, list[str]]:
    """Create a session on the first provider plan that works; return it and the providers it really uses.

    Raises:
        Unavailable: no plan worked (e.g. ``cuda`` required but absent).
    """
    available = ort.get_available_providers()
    plans = provider_plan(preferences, available)
    errors: list[str] = []
    for providers in plans:
        try:
            session = ort.InferenceSession(
                str(path),
                sess_options=session_options(intra_op_threads, inter_op_threads),
                providers=providers,
            )
        except Exception as exc:  # a broken CUDA install raises here: fall back to the next plan
            errors.append(f"{_names(providers)}: {exc}")
            log.warning("could not create a session for %s with %s: %s", path, _names(providers), exc)
            continue
        actual = list(session.get_providers())
        if _names(providers)[0] != actual[0]:
            log.warning("%s asked for %s but runs on %s", path, _names(providers)[0], actual[0])
        return session, actual
    raise Unavailable(
        f"no execution provider works for {path} (preferences {list(preferences)}, available {available}): "
        + "; ".join(errors or ["no provider matches the preferences"])
    )


def _names(providers: list[Any]) -> list[str]:
    return [p[0] if isinstance(p, tuple) else p for p in providers]
