"""The `python -m service` command line: one option per `Settings` field, its help, and its precedence."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from service.__main__ import PROG, cli, env_name, flag_name, main, settings_from_args
from service.settings import DEFAULT_MODEL_REPOSITORY, Settings


def _help_text() -> str:
    result = CliRunner().invoke(cli, ["--help"], prog_name=PROG, terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _entries(text: str) -> dict[str, str]:
    """Each option's help entry (its lines joined), by flag."""
    entries: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        match = re.match(r"\s{2}(--[a-z0-9-]+)", line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return {flag: " ".join(entry.split()) for flag, entry in entries.items()}


def test_every_field_has_an_option() -> None:
    options = {opt for param in cli.params for opt in param.opts}
    assert {flag_name(name) for name in Settings.model_fields} <= options
    assert len(cli.params) == len(Settings.model_fields)


def test_help_shows_each_env_var_and_the_real_default() -> None:
    entries = _entries(_help_text())
    for name, field in Settings.model_fields.items():
        entry = entries[flag_name(name)]
        assert f"[env var: {env_name(name)}; default: " in entry, entry
        if field.description:
            assert " ".join(field.description.split()) in entry
    assert "default: 16]" in entries["--max-batch-size"]
    assert "FOCALSERVE_MAX_BATCH_SIZE" in entries["--max-batch-size"]
    assert f"default: {DEFAULT_MODEL_REPOSITORY}]" in entries["--model-repository"]
    assert "default: 127.0.0.1]" in entries["--host"] and "default: auto]" in entries["--execution-providers"]
    computed = Settings.model_fields["preprocess_threads"].get_default(call_default_factory=True)
    assert f"default: {computed}]" in entries["--preprocess-threads"]  # what the factory makes, not its name
    assert "lambda" not in " ".join(entries.values())
    assert "debug|info|warning|error" in entries["--log-level"]


def test_help_never_prints_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCALSERVE_API_KEYS", "sesame")
    text = _help_text()
    assert "sesame" not in text
    assert "default: none]" in _entries(text)["--api-keys"]


def test_an_option_wins_over_the_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOCALSERVE_MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("FOCALSERVE_HTTP_PORT", "9000")
    monkeypatch.setenv("FOCALSERVE_API_KEYS", "env-key")
    settings = settings_from_args(
        ["--model-repository", str(tmp_path), "--max-batch-size", "8", "--api-keys", "one, two"]
    )
    assert settings.model_repository == tmp_path
    assert settings.max_batch_size == 8  # the option, not the env var
    assert settings.http_port == 9000  # no option: the env var
    assert settings.grpc_port == 8001  # neither: the default
    assert [key.get_secret_value() for key in settings.api_keys] == ["one", "two"]


def test_options_are_parsed_as_the_environment_is(tmp_path: Path) -> None:
    settings = settings_from_args(
        [
            "--model-repository",
            str(tmp_path),
            "--execution-providers",
            "CUDA,cpu",
            "--max-queue-delay-ms",
            "2.5",
        ]
    )
    assert settings.execution_providers == ["cuda", "cpu"] and settings.max_queue_delay_ms == 2.5


def test_an_invalid_value_exits_2_naming_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--max-batch-size", "0"])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "invalid settings" in err and "--max-batch-size" in err and "FOCALSERVE_MAX_BATCH_SIZE" in err


def test_an_invalid_env_var_is_named_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCALSERVE_LOG_LEVEL", "loud")
    with pytest.raises(click.UsageError, match="FOCALSERVE_LOG_LEVEL"):
        settings_from_args([])


def test_a_repository_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(click.UsageError, match="is not a directory"):
        settings_from_args(["--model-repository", str(tmp_path / "none")])
