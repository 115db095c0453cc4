"""``python -m service``: REST (uvicorn) and gRPC in one process, configured by `Settings`.

Every field of `service.settings.Settings` is an option here (``max_batch_size`` is ``--max-batch-size``) and
an environment variable (``FOCALSERVE_MAX_BATCH_SIZE``). An option given on the command line wins over the
environment; one left out leaves the environment, or else the field's default.

The options are made from ``Settings.model_fields``, so a new field is an option with no more code here, and
``--help`` shows each field's description, env var and default (a default made by a factory, such as the cpu
count, shows what it makes here; a secret's never shows). The values go to `Settings` as the strings given,
so they are parsed and checked as the environment's are (lists comma-separated). click, which typer is built
on, makes the options: plain text help, so the ``[env var: ...; default: ...]`` hints print as written.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from .runtime import serve
from .settings import Settings

__all__ = ["cli", "env_name", "flag_name", "main", "settings_from_args"]

PROG = "python -m service"


def flag_name(field: str) -> str:
    """The command-line option of a `Settings` field."""
    return "--" + field.replace("_", "-")


def env_name(field: str) -> str:
    """The environment variable of a `Settings` field."""
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret(arg) for arg in typing.get_args(annotation))


def _metavar(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "|".join(str(arg) for arg in args)
    if origin is list and args:
        return f"{_metavar(args[0])},..."
    names = {int: "INT", float: "FLOAT", str: "TEXT", Path: "PATH", SecretStr: "KEY", bool: "BOOL"}
    return names.get(annotation, "VALUE")


def _default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, list | tuple):
        shown = ",".join(str(item) for item in value)
    else:
        shown = "" if value is None else str(value)
    if _is_secret(field.annotation):
        return "hidden" if shown else "none"
    return shown or "none"


def _help(name: str, field: FieldInfo) -> str:
    hint = f"[env var: {env_name(name)}; default: {_default_text(field)}]"
    parts = [
        field.description or "",
        "(secret: the value is never printed)" if _is_secret(field.annotation) else "",
    ]
    return " ".join(part for part in [*parts, hint] if part)


def _option(name: str, field: FieldInfo) -> click.Option:
    return click.Option(
        [name, flag_name(name)], default=None, metavar=_metavar(field.annotation), help=_help(name, field)
    )


def _explain(exc: ValidationError) -> str:
    lines = ["invalid settings:"]
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        where = (
            f"{field} ({flag_name(field)}, {env_name(field)})" if field in Settings.model_fields else field
        )
        got = ""
        if field in Settings.model_fields and not _is_secret(Settings.model_fields[field].annotation):
            got = f", got {error['input']!r}"
        lines.append(f"  {where}: {error['msg']}{got}")
    return "\n".join(lines)


def _settings(params: Mapping[str, object]) -> Settings:
    given: dict[str, Any] = {name: value for name, value in params.items() if value is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise click.UsageError(_explain(exc)) from None
    except SettingsError as exc:
        raise click.UsageError(f"invalid settings: {exc}") from None
    if not settings.model_repository.is_dir():
        raise click.UsageError(
            f"model repository {settings.model_repository} is not a directory "
            f"({flag_name('model_repository')}, {env_name('model_repository')})"
        )
    return settings


def _run(**params: str | None) -> None:
    serve(_settings(params))


cli = click.Command(
    "service",
    callback=_run,
    params=[_option(name, field) for name, field in Settings.model_fields.items()],
    help="Serve the models of the repository over REST and gRPC until SIGTERM (graceful) or Ctrl+C.\n\n"
    "Every option is also an environment variable; an option given here wins over it.",
    context_settings={"max_content_width": 120},
)


def settings_from_args(args: Sequence[str]) -> Settings:
    """The `Settings` the command line ``args`` (without the program name) and the environment make.

    Raises:
        click.UsageError: an unknown option, an invalid value, or a model repository that is not a directory.
    """
    with cli.make_context(PROG, list(args)) as ctx:
        return _settings(ctx.params)


def main(args: Sequence[str] | None = None) -> None:
    """Parse ``args`` (default: ``sys.argv[1:]``) and serve; exit 2 with a message for bad settings."""
    cli.main(args=None if args is None else list(args), prog_name=PROG)


if __name__ == "__main__":
    main()
