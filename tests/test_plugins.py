from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from importlib import metadata as importlib_metadata

import pluggy
import pytest

import negate_sdk
from negate_sdk import hookimpl
from negate_sdk.plugins import PluginHost, use_host
from negate_sdk.registry import KINDS


class GoodPlugin:
    """An in-process plugin object (hooks may live on any object, not only modules)."""

    @hookimpl
    def negate_register_extractors(self, register):
        register("good_extractor", "negate_example.components:ColourMoments", description="good")

    @hookimpl
    def negate_register_detectors(self, register):
        register("good_detector", "negate_recipes.dummy:DummyDetector")


class MisspeltHookPlugin:
    @hookimpl
    def negate_register_extractor(self, register):  # missing the final 's'
        register("never_registered", dict)


class WrongArgumentPlugin:
    @hookimpl
    def negate_register_extractors(self, registrar):
        registrar("never_registered", dict)


class RaisingPlugin:
    @hookimpl
    def negate_register_extractors(self, register):
        register("raising_first", dict)

    @hookimpl
    def negate_register_detectors(self, register):
        register("raising_detector", dict)
        raise RuntimeError("boom while registering\nsecond line")

    @hookimpl
    def negate_register_datasets(self, register):  # hooks run in KINDS order: this one comes later
        register("raising_dataset", dict)


class CollidingPlugin:
    @hookimpl
    def negate_register_detectors(self, register):
        register("dummy", dict)
        register("colliding_ok", dict)


def test_builtin_and_example_plugins_load_through_entry_points(default_host):
    infos = default_host.plugins
    assert infos["negate_recipes"].builtin and infos["negate_recipes"].distribution == "negate-sdk"
    assert infos["negate_recipes"].version == negate_sdk.__version__
    example = infos["negate_example"]
    assert (example.builtin, example.distribution, example.version) == (False, "negate-example", "0.2.0")
    assert example.hooks == ["negate_register_detectors", "negate_register_extractors"]
    assert default_host.failures() == []
    assert default_host.registry("detector").get("example_colour_logistic").plugin == "negate_example"


def test_in_process_plugin_registers_and_unregisters(default_host):
    default_host.add_plugin(GoodPlugin(), "good")
    assert negate_sdk.list_extractors("good*") == ["good_extractor"]
    assert negate_sdk.get_detector("good_detector").plugin == "good"
    default_host.remove_plugin("good")
    assert negate_sdk.list_extractors("good*") == []
    assert not negate_sdk.is_detector("good_detector")


def test_misspelt_hook_is_refused_with_a_suggestion_and_the_rest_works(default_host):
    info = default_host.add_plugin(MisspeltHookPlugin(), "misspelt")
    assert info.error == (
        "refused: unknown hook 'negate_register_extractor' (did you mean 'negate_register_extractors'?)"
    )
    assert "never_registered" not in negate_sdk.list_extractors()
    assert default_host.pm.get_plugin("misspelt") is None
    default_host.pm.check_pending()  # nothing unknown stays registered
    assert negate_sdk.is_detector("dummy")


def test_check_pending_would_catch_what_the_host_refuses():
    pm = pluggy.PluginManager("negate")
    from negate_sdk import hookspecs

    pm.add_hookspecs(hookspecs)
    pm.register(MisspeltHookPlugin(), name="misspelt")
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'negate_register_extractor'"):
        pm.check_pending()


def test_wrong_hook_arguments_are_refused(default_host):
    info = default_host.add_plugin(WrongArgumentPlugin(), "wrongargs")
    assert info.error.startswith("refused: Plugin 'wrongargs' for hook 'negate_register_extractors'")
    assert "{'registrar'} are declared in the hookimpl but can not be found in the hookspec" in info.error
    assert negate_sdk.is_detector("dummy")


def test_a_plugin_raising_while_registering_is_reported(default_host):
    default_host.add_plugin(RaisingPlugin(), "raising")
    failures = {i.name: i.error for i in default_host.failures()}
    assert failures == {"raising": "negate_register_detectors raised RuntimeError: boom while registering"}
    # nothing the plugin registered stays: not the earlier hook's, not the failing hook's, no later hook's
    assert not negate_sdk.is_extractor("raising_first")
    assert not negate_sdk.is_detector("raising_detector")
    assert not negate_sdk.is_dataset("raising_dataset")
    assert all(e.plugin != "raising" for kind in KINDS for e in default_host.registry(kind).entries())
    assert negate_sdk.is_detector("example_colour_logistic")  # the other plugins keep working


def test_collision_names_both_plugins_and_keeps_the_first(default_host):
    default_host.add_plugin(CollidingPlugin(), "colliding")
    assert negate_sdk.get_detector("dummy").plugin == "negate_recipes"
    assert negate_sdk.is_detector("colliding_ok")
    (failure,) = default_host.failures()
    assert (
        failure.error
        == "detector 'dummy' is registered by both plugin 'negate_recipes' and plugin 'colliding'"
    )


def fake_entry_points(*eps):
    def entry_points(group=None):
        return [ep for ep in eps if ep.group == group]

    return entry_points


def test_entry_point_that_fails_to_import_is_reported(monkeypatch):
    eps = [
        importlib_metadata.EntryPoint("broken", "negate_no_such_module_xyz", "negate"),
        importlib_metadata.EntryPoint("recipes_again", "negate_recipes.plugin", "negate"),
    ]
    monkeypatch.setattr(importlib_metadata, "entry_points", fake_entry_points(*eps))
    host = PluginHost()
    host.load_entrypoints()
    assert host.plugins["broken"].error == (
        "failed to import 'negate_no_such_module_xyz': ModuleNotFoundError: "
        "No module named 'negate_no_such_module_xyz'"
    )
    assert host.registry("detector").names() == ["clip_probe", "dummy", "handcrafted", "hybrid", "spectral"]
    assert host.plugins["recipes_again"].error is None


def test_env_load_plugins_loads_only_those():
    host = PluginHost.from_env({"NEGATE_LOAD_PLUGINS": "negate_example"})
    assert set(host.plugins) == {"negate_example"}
    assert host.registry("detector").names() == ["example_colour_logistic"]
    by_dist = PluginHost.from_env({"NEGATE_LOAD_PLUGINS": "negate-example, nope"})
    assert by_dist.plugins["negate_example"].error is None
    assert by_dist.plugins["nope"].error == "plugin 'nope' named in NEGATE_LOAD_PLUGINS is not installed"
    assert PluginHost.from_env({"NEGATE_LOAD_PLUGINS": ""}).plugins == {}


def test_env_disable_autoload_keeps_builtins_only():
    host = PluginHost.from_env({"NEGATE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "negate_example" not in host.plugins
    assert all(info.builtin for info in host.plugins.values())
    assert "dummy" in host.registry("detector")
    builtins = set(host.plugins)
    both = PluginHost.from_env(
        {"NEGATE_DISABLE_PLUGIN_AUTOLOAD": "1", "NEGATE_LOAD_PLUGINS": "negate_example"}
    )
    assert set(both.plugins) == builtins | {"negate_example"}  # the built-ins plus those named
    assert both.failures() == []
    # the documented plugin test: a recipe of the example plugin on a built-in head, with the built-ins
    assert {"dummy", "example_colour_logistic"} <= set(both.registry("detector").names())
    assert "logistic" in both.registry("classifier")
    direct = PluginHost()
    direct.load_entrypoints(only=["negate-example"], autoload=False)
    assert set(direct.plugins) == builtins | {"negate_example"}


def test_autoload_without_env_finds_the_example():
    host = PluginHost.from_env({})
    assert {"negate_recipes", "negate_example"} <= set(host.plugins)


def test_module_plugin_added_in_process():
    module = types.ModuleType("tmp_plugin_module")
    exec(
        textwrap.dedent(
            """
            from negate_sdk import hookimpl

            @hookimpl
            def negate_register_vetoes(register):
                register("tmp_veto", dict, description="a veto")
            """
        ),
        module.__dict__,
    )
    with use_host(PluginHost()) as host:
        info = host.add_plugin(module)
        assert info.name == "tmp_plugin_module" and info.hooks == ["negate_register_vetoes"]
        assert negate_sdk.list_vetoes() == ["tmp_veto"]


def test_installed_broken_plugin_does_not_take_the_cli_down(tmp_path):
    """A real distribution on sys.path whose entry point cannot be imported (a subprocess, no mocks)."""
    dist = tmp_path / "negate_broken-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: negate-broken\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[negate]\nnegate_broken = negate_broken_missing_module\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "negate_sdk.cli.bench_main", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    plugins = {p["name"]: p for p in json.loads(run.stdout)}
    assert plugins["negate_broken"]["version"] == "0.3"
    assert plugins["negate_broken"]["error"].startswith("failed to import 'negate_broken_missing_module'")
    assert plugins["negate_recipes"]["error"] is None
    listing = subprocess.run(
        [sys.executable, "-m", "negate_sdk.cli.bench_main", "list", "detectors", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "dummy" in [d["name"] for d in json.loads(listing.stdout)]
    assert "warning: plugin 'negate_broken': failed to import" in listing.stderr


def test_listing_and_help_never_import_torch():
    code = textwrap.dedent(
        """
        import sys
        import negate_sdk
        for kind in ("extractors", "classifiers", "vetoes", "detectors", "datasets"):
            getattr(negate_sdk, "list_" + kind)()
        from negate_sdk.cli.bench import main
        sys.argv = ["negate-bench", "--help"]
        try:
            main()
        except SystemExit:
            pass
        print("TORCH" if "torch" in sys.modules else "NO-TORCH")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip().endswith("NO-TORCH")
