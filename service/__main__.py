"""``python -m service``: REST (uvicorn) and gRPC in one process; options are also FOCALSERVE_* env vars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from .runtime import serve
from .settings import Settings

cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def main(
    model_repository: Annotated[
        Path | None, typer.Option(help="Model repository [env FOCALSERVE_MODEL_REPOSITORY; default models/].")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface [env FOCALSERVE_HOST; default 127.0.0.1].")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(help="REST port [env FOCALSERVE_HTTP_PORT; default 8000].")
    ] = None,
    grpc_port: Annotated[
        int | None, typer.Option(help="gRPC port [env FOCALSERVE_GRPC_PORT; default 8001].")
    ] = None,
) -> None:
    """Serve the models of the repository over REST and gRPC until SIGTERM (graceful) or Ctrl+C."""
    given: dict[str, Any] = {
        "model_repository": model_repository,
        "host": host,
        "http_port": http_port,
        "grpc_port": grpc_port,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        Console(stderr=True).print(f"[red]invalid settings:[/red]\n{exc}")
        raise typer.Exit(2) from None
    if not settings.model_repository.is_dir():
        Console(stderr=True).print(
            f"[red]model repository {settings.model_repository} is not a directory[/red]"
        )
        raise typer.Exit(2)
    serve(settings)


if __name__ == "__main__":
    cli()
