"""Every Python code block in README.md and docs/ runs, as a reader would paste it.

Blocks run in order within each file, sharing one namespace (a later block may use an earlier one's names),
in a temporary working folder, on the dev data (``$NEGATE_DEV_DATA``). A block that cannot run here says
so in the line just above it, ``<!-- not run: reason -->``, and is listed as skipped with that reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- not run: (?P<reason>[^>]*) -->\n)?```python\n(?P<code>.*?)```", re.S)
DEV_DATA = Path(os.environ.get("NEGATE_DEV_DATA", ROOT.parent / "shared" / "datasets")).resolve()


def blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, reason not to run or None)`` of each Python block of ``path``."""
    text = path.read_text()
    return [
        (text.count("\n", 0, m.start("code")), m.group("code"), m.group("reason"))
        for m in BLOCK.finditer(text)
    ]


def test_the_block_pattern_finds_marked_and_plain_blocks():
    sample = "a\n```python\nx = 1\n```\n<!-- not run: needs the hub -->\n```python\ny = 2\n```\n"
    found = [(m.group("code"), m.group("reason")) for m in BLOCK.finditer(sample)]
    assert found == [("x = 1\n", None), ("y = 2\n", "needs the hub")]


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p)], ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    if not (DEV_DATA / "manifest.csv").is_file():
        pytest.skip(f"no dev data in {DEV_DATA}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEGATE_DEV_DATA", str(DEV_DATA))
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    skipped = []
    for line, code, reason in blocks(path):
        if reason:
            skipped.append(f"line {line}: {reason}")
            continue
        try:
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{path.name} block at line {line}: {type(err).__name__}: {err}") from err
    if skipped:
        print(f"{path.name}: not run: {'; '.join(skipped)}")


# -- shell blocks: every negate / negate-bench command line names real commands and options ---------

SHELL_BLOCK = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.S)


def command_lines(path: Path) -> list[tuple[str, list[str]]]:
    """``(program, arguments)`` of each ``negate``/``negate-bench`` command in the shell blocks of ``path``
    (continuation lines joined, comments dropped)."""
    import shlex

    out = []
    for block in SHELL_BLOCK.findall(path.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("negate", "negate-bench"):
                out.append((words[0], words[1:]))
    return out


def parse(program: str, args: list[str]) -> list[str]:
    """Walk ``args`` through the real CLI (nothing runs): every subcommand must exist and every option
    token belong to the command it follows. Returns the command path."""
    import click

    from negate_sdk.cli.bench import build_cli as bench_cli
    from negate_sdk.cli.negate import build_cli as negate_cli

    command: click.Command = (bench_cli if program == "negate-bench" else negate_cli)()
    ctx = click.Context(command, info_name=program)
    path, tokens = [program], list(args)
    while tokens:
        options = {
            name: p
            for p in command.params
            if isinstance(p, click.Option)
            for name in p.opts + p.secondary_opts
        }
        token = tokens.pop(0)
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            if name not in options and name not in ("-h", "--help"):
                raise click.NoSuchOption(name, ctx=ctx)
            if name in options and not options[name].is_flag and "=" not in token and not options[name].count:
                tokens = tokens[options[name].nargs :]  # the option's value(s)
        elif isinstance(command, click.Group):
            sub = command.get_command(ctx, token)
            assert sub is not None, f"{program}: no command {token!r}"
            path.append(token)
            command, ctx = sub, click.Context(sub, info_name=token, parent=ctx)
    return path


def test_the_parser_refuses_what_the_cli_refuses():
    import click

    assert parse("negate-bench", ["run", "--detector", "hybrid", "--dataset", "cifake"]) == [
        "negate-bench",
        "run",
    ]
    with pytest.raises(click.NoSuchOption):
        parse("negate-bench", ["run", "--no-such-option"])
    with pytest.raises(AssertionError, match="no command 'runn'"):
        parse("negate-bench", ["runn"])


@pytest.mark.parametrize("path", [p for p in FILES if command_lines(p)], ids=lambda p: p.name)
def test_shell_blocks_name_real_commands_and_options(path):
    for program, args in command_lines(path):
        assert len(parse(program, args)) >= 2, f"{path.name}: {program} {' '.join(args)} names no command"
