"""``negate-bench``: the benchmark harness's command line."""

from __future__ import annotations

import click

from negate_sdk.cli._common import NegateGroup
from negate_sdk.cli.cache_cmd import cache_group
from negate_sdk.cli.leaderboard_cmd import leaderboard_command
from negate_sdk.cli.list_cmd import list_command
from negate_sdk.cli.new_plugin_cmd import new_plugin_command
from negate_sdk.cli.plugins_cmd import plugins_command
from negate_sdk.cli.run_cmd import run_command
from negate_sdk.cli.show_cmd import show_command
from negate_sdk.cli.validate_cmd import validate_command


def build_cli() -> click.Group:
    """The ``negate-bench`` group with the built-in commands and every plugin's commands."""
    from negate_sdk.plugins import get_host

    @click.group(cls=NegateGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="negate-sdk", prog_name="negate-bench")
    def cli() -> None:
        """Benchmark detectors of AI-generated images: list components, run, compare."""

    commands = (run_command, leaderboard_command, cache_group, validate_command, list_command, show_command)
    for command in (*commands, plugins_command, new_plugin_command):
        cli.add_command(command)
    get_host().register_commands(cli)
    return cli


def main() -> None:
    """Console-script entry point of ``negate-bench``."""
    build_cli()(prog_name="negate-bench")
