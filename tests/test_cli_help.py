"""Every command and subcommand has help text with an example."""

import click
import pytest
from click.testing import CliRunner

from policycorpus.cli import COMMANDS, cli


def all_commands():
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, f"command {name} is registered but cannot be imported"
        yield [name], command
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                yield [name, sub], command.get_command(ctx, sub)


@pytest.mark.parametrize("path,command", list(all_commands()), ids=lambda p: " ".join(p) if isinstance(p, list) else "")
def test_help_has_an_example(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"policycorpus {' '.join(path)} --help has no example"
