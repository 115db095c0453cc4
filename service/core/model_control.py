"""The model repository extension (Triton's): the repository's index, models loaded and unloaded on request.

One implementation for both edges (REST ``/v2/repository/...``, gRPC ``RepositoryIndex``,
``RepositoryModelLoad``, ``RepositoryModelUnload``):

* every call needs an admin key (``admin_keys``; header / metadata ``x-admin-key``): without one configured
  the API is off, and every call is refused with `Forbidden`, as is a call without a matching key;
* `index`: every model folder of the repository, loaded or not, with each served version's state
  (``READY``, ``LOADING``, ``UNAVAILABLE`` and why);
* `load` and `unload` only in ``model_control_mode: explicit`` (in the other modes the repository decides what
  is served: `FailedPrecondition`, as Triton refuses them). A load reads the model's folder, loads and warms
  up its versions *before* they take traffic, then swaps them in; an unload takes the model's versions out
  and lets them finish what they hold (`RepositoryWatcher.load_model`, `unload_model`: the steps of the live
  repository, for one model).

A load may carry a configuration (Triton's ``parameters.config``, a JSON string of ``ModelConfig``) used
instead of the model's config.pbtxt: of it the service reads ``max_batch_size`` and ``version_policy``
(``name`` must be the model's, if given); any other field is refused, naming it, not silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import FailedPrecondition, Forbidden, InvalidInput, NotFound, Unavailable
from .auth import ApiKeys
from .model_config import ModelConfig, VersionPolicy
from .repository import model_folders

if TYPE_CHECKING:
    from .live_repository import RepositoryWatcher
    from .state import ServiceState

__all__ = ["ADMIN_HEADER", "ModelControl", "read_override"]

#: The header (REST) and metadata key (gRPC) carrying the admin key.
ADMIN_HEADER = "x-admin-key"
#: The fields of a load's configuration the service reads; ``name`` is checked against the model.
_OVERRIDE_FIELDS = ("name", "max_batch_size", "version_policy")
_STATES = {"ready": "READY", "loading": "LOADING", "failed": "UNAVAILABLE"}


class ModelControl:
    """The model repository API over one `ServiceState`."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.admin_keys = ApiKeys(state.settings.admin_keys)

    def check_admin(self, given: str | bytes | None) -> None:
        """Raise `Forbidden` unless admin keys are configured and ``given`` is one of them."""
        if not self.admin_keys.enabled:
            raise Forbidden(
                "the model repository API is off: set admin_keys (FOCALSERVE_ADMIN_KEYS) to use it",
                field=ADMIN_HEADER,
            )
        if not self.admin_keys.accepts(given):
            raise Forbidden(
                f"missing or wrong admin key: send header / metadata {ADMIN_HEADER}", field=ADMIN_HEADER
            )

    async def index(self, admin_key: str | bytes | None, *, ready: bool = False) -> list[dict[str, str]]:
        """Triton's index: ``{"name", "version", "state", "reason"}`` per served version, and one without a
        version (``UNAVAILABLE``, ``unloaded``) per model folder that serves none; ``ready``: READY ones
        only."""
        self.check_admin(admin_key)
        folders = await self.state.in_cpu_pool(model_folders, self.state.settings.model_repository)
        registry = self.state.registry
        entries: list[dict[str, str]] = []
        for name in sorted({p.name for p in folders} | set(registry.names())):
            versions = registry.versions(name) if name in registry.names() else []
            if not versions:
                entries.append({"name": name, "version": "", "state": "UNAVAILABLE", "reason": "unloaded"})
            for mv in versions:
                reason = (mv.error or "") if mv.state == "failed" else ""
                entries.append(
                    {"name": name, "version": mv.version, "state": _STATES[mv.state], "reason": reason}
                )
        return [e for e in entries if e["state"] == "READY"] if ready else entries

    async def load(self, name: str, admin_key: str | bytes | None, config: str | None = None) -> None:
        """Load (or reload) model ``name`` from its folder; ``config``: a JSON ``ModelConfig`` to use instead
        of its config.pbtxt.

        Raises:
            Forbidden: no admin key. FailedPrecondition: not in explicit mode. NotFound: no such folder.
            InvalidInput: a bad ``config``, or a version that failed to load (the one served before keeps
            serving).
        """
        self.check_admin(admin_key)
        override = read_override(name, config) if config is not None else None
        watcher = self._explicit("load")
        self._folder(name)
        report = await watcher.load_model(name, override)
        if report.failed:
            failed = [mv for mv in self.state.registry.versions(name) if mv.state == "failed"]
            why = failed[0].error if failed else "see the service log"
            raise InvalidInput(
                f"model {name}: version(s) {report.failed} failed to load: {why}", field="model"
            )
        if not any(mv.ready for mv in self._served(name)):
            raise InvalidInput(
                f"model {name}: no version to serve (version_policy, model.onnx)", field="model"
            )

    async def unload(self, name: str, admin_key: str | bytes | None) -> None:
        """Stop serving every version of model ``name`` (what they hold finishes on them). Unloading a model
        that is not loaded is no error.

        Raises:
            Forbidden: no admin key. FailedPrecondition: not in explicit mode. NotFound: no such model.
        """
        self.check_admin(admin_key)
        watcher = self._explicit("unload")
        if not self._served(name):
            self._folder(name)
            return
        await watcher.unload_model(name)

    def _explicit(self, action: str) -> RepositoryWatcher:
        mode, watcher = self.state.settings.model_control_mode, self.state.watcher
        if mode == "explicit" and watcher is None:
            raise Unavailable("the models of load_models are still loading: try again once they are")
        if mode != "explicit" or watcher is None:
            raise FailedPrecondition(
                f"explicit model {action} is not allowed in model control mode {mode!r}: start the service "
                "with model_control_mode explicit"
            )
        return watcher

    def _folder(self, name: str) -> None:
        folder = self.state.settings.model_repository / name
        if name.startswith(".") or "/" in name or "\\" in name or not folder.is_dir():
            raise NotFound(f"model {name!r} has no folder in the model repository", field="model")

    def _served(self, name: str) -> list[Any]:
        registry = self.state.registry
        return registry.versions(name) if name in registry.names() else []


def read_override(name: str, config: str) -> ModelConfig:
    """A load request's configuration (a JSON string of Triton's ``ModelConfig``) as the service reads it.

    Raises:
        InvalidInput: not a JSON object, a field the service does not read, or a value out of range.
    """
    field = "parameters.config"
    try:
        document = json.loads(config)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"not JSON: {exc}", field=field) from None
    if not isinstance(document, dict):
        raise InvalidInput("must be a JSON object (Triton's ModelConfig)", field=field)
    unknown = sorted(set(document) - set(_OVERRIDE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not read by this service (it reads {list(_OVERRIDE_FIELDS)})", field=field
        )
    if document.get("name", name) != name:
        raise InvalidInput(f"name {document['name']!r} is not the model's, {name!r}", field=f"{field}.name")
    batch = document.get("max_batch_size", 0)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 0 <= batch <= 2**31 - 1:
        raise InvalidInput("must be an integer, 0 or more", field=f"{field}.max_batch_size")
    policy = _policy(
        document.get("version_policy", {"latest": {"num_versions": 1}}), f"{field}.version_policy"
    )
    return ModelConfig(max_batch_size=batch, version_policy=policy)


def _policy(value: object, field: str) -> VersionPolicy:
    """Triton's JSON ``version_policy``: ``{"latest": {"num_versions": N}}``, ``{"all": {}}`` or
    ``{"specific": {"versions": [...]}}``."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise InvalidInput("must be one of latest {num_versions}, all {}, specific {versions}", field=field)
    kind, body = next(iter(value.items()))
    if not isinstance(body, Mapping):
        raise InvalidInput(f"{kind} must be an object", field=field)
    if kind == "all" and not body:
        return VersionPolicy("all")
    if kind == "latest" and set(body) <= {"num_versions"}:
        count = body.get("num_versions", 1)
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return VersionPolicy("latest", num_versions=count)
    if kind == "specific" and set(body) == {"versions"}:
        versions = body["versions"]
        if isinstance(versions, list) and versions and all(_version(v) for v in versions):
            return VersionPolicy("specific", versions=tuple(int(v) for v in versions))
    raise InvalidInput(
        "must be one of latest {num_versions: N}, all {}, specific {versions: [N, ...]}", field=field
    )


def _version(value: object) -> bool:
    """A version number as Triton's JSON writes it (int64 values as numbers or strings)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isdigit()
