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
    assert "unknown kind 'detektors'" in result.output and "did you mean 'detectors'?" in result.output


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
