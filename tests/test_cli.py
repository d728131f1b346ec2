from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

import negate_sdk
from negate_sdk import hookimpl
from negate_sdk.cli.bench import build_cli
from negate_sdk.cli.negate import build_cli as build_negate_cli


def run(args, cli=None):
    result = CliRunner().invoke(cli or build_cli(), args, catch_exceptions=False)
    return result


def all_commands(group, prefix=()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("builder", [build_cli, build_negate_cli])
def test_help_works_for_every_command(builder):
    cli = builder()
    paths = list(all_commands(cli))
    assert len(paths) >= 1
    for path in paths:
        result = run([*path, "--help"], cli)
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output and "--help" in result.output


def test_version():
    result = run(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"negate-bench, version {negate_sdk.__version__}"
    assert (
        run(["--version"], build_negate_cli()).output.strip() == f"negate, version {negate_sdk.__version__}"
    )


def test_list_detectors_json_shows_dummy_and_the_example():
    result = run(["list", "detectors", "--json"])
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["dummy"]["kind"] == "detector" and rows["dummy"]["plugin"] == "negate_recipes"
    assert rows["example_colour_logistic"]["plugin"] == "negate_example"
    assert set(rows) == set(negate_sdk.list_detectors())


def test_list_all_and_filters():
    rows = json.loads(run(["list", "--json"]).output)
    assert {(r["kind"], r["name"]) for r in rows} >= {
        ("detector", "dummy"),
        ("extractor", "example_colour_moments"),
    }
    filtered = json.loads(run(["list", "all", "example_*", "--json"]).output)
    assert sorted(r["name"] for r in filtered) == ["example_colour_logistic", "example_colour_moments"]
    singular = json.loads(run(["list", "detector", "dum*", "--json"]).output)
    assert [r["name"] for r in singular] == ["dummy"]


def test_list_table_and_empty_filter():
    result = run(["list", "detectors"])
    assert result.exit_code == 0 and "dummy" in result.output and "negate_recipes" in result.output
    assert run(["list", "detectors", "zzz*"]).output.strip() == "no detectors match 'zzz*'"


def test_unknown_kind_suggests():
    result = run(["list", "detektors"])
    assert result.exit_code == 2
    assert "'detektors' is not a kind, a plugin or a component name" in result.output
    assert "did you mean 'detectors' or 'extractors'?" in result.output
    assert "unknown kind 'detektors'" in run(["list", "detektors", "dum*"]).output  # with a FILTER: a kind
    nothing = run(["list", "myplugin"])
    assert nothing.exit_code == 2 and "'myplugin' is not a kind, a plugin or a component name (kinds:" in (
        nothing.output
    )


def test_one_word_that_is_no_kind_is_a_plugin_or_a_filter():
    by_plugin = json.loads(run(["list", "negate_example", "--json"]).output)
    assert sorted(r["name"] for r in by_plugin) == ["example_colour_logistic", "example_colour_moments"]
    assert {r["plugin"] for r in by_plugin} == {"negate_example"}
    by_word = json.loads(run(["list", "colour_mom", "--json"]).output)
    assert [(r["kind"], r["name"]) for r in by_word] == [("extractor", "example_colour_moments")]


def test_show_unknown_name_is_one_line_with_suggestion():
    result = run(["show", "detector", "dumy"])
    assert result.exit_code == 1
    assert result.output == "Error: unknown detector 'dumy'; did you mean 'dummy'?\n"


def test_show_lists_parameters():
    result = run(["show", "detector", "dummy", "--json"])
    info = json.loads(result.output)
    assert info["parameters"] == [
        {"parameter": "seed", "default": "0"},
        {"parameter": "t_genuine", "default": "0.5"},
        {"parameter": "t_synthetic", "default": "0.5"},
    ]
    assert info["plugin"] == "negate_recipes"


def test_plugins_json_shows_both_plugins_with_versions():
    rows = {row["name"]: row for row in json.loads(run(["plugins", "--json"]).output)}
    assert rows["negate_recipes"]["version"] == negate_sdk.__version__
    assert rows["negate_recipes"]["builtin"] is True and rows["negate_recipes"]["error"] is None
    assert rows["negate_example"]["version"] == "0.2.0"
    assert rows["negate_example"]["hooks"] == ["negate_register_detectors", "negate_register_extractors"]


class CommandPlugin:
    @hookimpl
    def negate_register_commands(self, cli):
        @cli.command("hello")
        @click.argument("who")
        def hello(who):
            """Say hello."""
            click.echo(f"hello {who}")

        @cli.command("list")
        def hijack():
            """Try to replace a built-in command."""


class BrokenPlugin:
    @hookimpl
    def negate_register_detectors(self, register):
        raise ImportError("needs a library that is not installed")


def test_plugin_commands_are_added_and_builtins_protected(default_host):
    default_host.add_plugin(CommandPlugin(), "commands")
    cli = build_cli()
    assert run(["hello", "world"], cli).output == "hello world\n"
    assert "dummy" in run(["list", "detectors"], cli).output  # the built-in 'list' survived
    (failure,) = default_host.failures()
    assert failure.error == "command 'list' already exists; plugin's version ignored"


def test_a_broken_plugin_is_reported_and_the_cli_still_works(default_host):
    default_host.add_plugin(BrokenPlugin(), "broken")
    result = CliRunner().invoke(build_cli(), ["list", "detectors", "--json"])
    assert result.exit_code == 0
    assert "dummy" in result.stdout
    assert (
        "warning: plugin 'broken': negate_register_detectors raised ImportError: "
        "needs a library that is not installed" in result.stderr
    )
    rows = {row["name"]: row for row in json.loads(run(["plugins", "--json"]).output)}
    assert rows["broken"]["error"].startswith("negate_register_detectors raised ImportError")


@pytest.fixture
def restore_logging():
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:], root.level = handlers, level
    logging.captureWarnings(False)


def test_warnings_and_log_records_go_through_logging_with_verbosity(monkeypatch, restore_logging):
    import logging
    import warnings

    def noisy():
        # as PIL does on a TIFF with odd tags: a UserWarning, which warnings would print with a source line
        warnings.warn(
            "Metadata Warning, tag 282 had too many entries: 2, expected 1", UserWarning, stacklevel=1
        )
        logging.getLogger("negate_sdk.test").info("decoded 3 images")
        logging.getLogger("negate_sdk.test").debug("cache hit")

    monkeypatch.setattr("negate_sdk.cli.list_cmd.warn_plugin_failures", noisy)
    default = CliRunner().invoke(build_cli(), ["list", "detectors", "--json"])
    assert default.exit_code == 0 and json.loads(default.stdout)  # stdout stays clean JSON
    (line,) = default.stderr.splitlines()
    assert line.startswith("warning: ") and line.endswith(
        "UserWarning: Metadata Warning, tag 282 had too many entries: 2, expected 1"
    )
    verbose = CliRunner().invoke(build_cli(), ["-v", "list", "detectors", "--json"])
    assert "info: decoded 3 images" in verbose.stderr.splitlines() and "cache hit" not in verbose.stderr
    for cli in (build_cli(), build_negate_cli()):  # both programs take them, before the command
        assert "-v, --verbose" in run(["--help"], cli).output and "-q, --quiet" in run(["--help"], cli).output
    very = CliRunner().invoke(build_cli(), ["-vv", "list", "detectors", "--json"])
    assert "debug: cache hit" in very.stderr.splitlines()
    quiet = CliRunner().invoke(build_cli(), ["-q", "list", "detectors", "--json"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_library_code_never_prints():
    import ast
    from pathlib import Path

    root = Path(negate_sdk.__file__).resolve().parents[1]
    # the CLI prints by design; negate_handcrafted/docs.py is a script whose main reports to stderr
    skip = {root / "negate_sdk" / "cli", root / "plugins" / "negate_handcrafted" / "docs.py"}
    offenders = []
    for base in (root / "negate_sdk", root / "plugins"):
        for path in base.rglob("*.py"):
            if any(path == s or s in path.parents for s in skip) or "build" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
