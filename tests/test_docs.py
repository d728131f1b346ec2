"""Code and documentation stay in step: every hook documented with its real arguments."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from negate_sdk import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HEADING = re.compile(r"^## `(negate_\w+)\(([^)]*)\)`", re.MULTILINE)


def hook_signatures() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in vars(hookspecs).items()
        if name.startswith("negate_") and callable(function)
    }


def test_every_hook_is_documented_with_its_signature():
    documented = {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in
                  HEADING.findall((ROOT / "docs" / "hooks.md").read_text())}  # fmt: skip
    assert documented == hook_signatures()


def test_every_hook_has_a_docstring():
    for name in hook_signatures():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_readme_gives_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make bench" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def cli_commands() -> dict[str, set[str]]:
    """Every command of both programs (sub-commands of groups included) and its options' flags."""
    import click

    from negate_sdk.cli.bench import build_cli as bench
    from negate_sdk.cli.negate import build_cli as negate

    def walk(group: click.Group, prefix: str):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix} {name}")
            else:
                yield f"{prefix} {name}", command

    return {
        name: {flag for p in command.params if isinstance(p, click.Option) for flag in p.opts}
        for program, cli in (("negate-bench", bench()), ("negate", negate()))
        for name, command in walk(cli, program)
    }


def documented_commands() -> dict[str, set[str]]:
    """Commands documented in docs/cli.md (``### `name` ``) and the flags listed in their sections."""
    text = (ROOT / "docs" / "cli.md").read_text()
    sections = re.split(r"^### `([^`]+)`.*$", text, flags=re.MULTILINE)
    return {
        name: {
            flag for row in re.findall(r"^\| (`-.*?) \|", body, flags=re.MULTILINE)
            for flag in re.findall(r"`(-[-\w]+)`", row)
        }
        for name, body in zip(sections[1::2], sections[2::2])
    }  # fmt: skip


def test_every_command_and_option_is_in_the_cli_reference():
    assert documented_commands() == cli_commands()
