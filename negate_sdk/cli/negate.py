"""``negate``: everyday use — train a detector, check an image or a folder."""

from __future__ import annotations

import click

from negate_sdk.cli._common import NegateGroup
from negate_sdk.cli.check_cmd import check_command
from negate_sdk.cli.train_cmd import train_command
from negate_sdk.cli.train_veto_cmd import train_veto_command


def build_cli() -> click.Group:
    """The ``negate`` group."""

    @click.group(cls=NegateGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="negate-sdk", prog_name="negate")
    def cli() -> None:
        """Tell AI-generated images from real ones: train a detector, check images."""

    for command in (train_command, train_veto_command, check_command):
        cli.add_command(command)
    return cli


def main() -> None:
    """Console-script entry point of ``negate``."""
    build_cli()(prog_name="negate")
