"""Every command's --help renders (argparse %-formats help text, so a stray "%" crashes it)."""

from __future__ import annotations

import argparse

import pytest

from cds_service.cli import build_parser, main


def _command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", _command_paths(build_parser()), ids=" ".join)
def test_help_renders_for_every_command(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: cds-service" in capsys.readouterr().out
