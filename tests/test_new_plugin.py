"""``negate-bench new-plugin``: the package it writes installs, is found and conforms; overwrites nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from negate_sdk.api import Sample
from negate_sdk.cli.bench import build_cli
from negate_sdk.cli.new_plugin_cmd import write_plugin
from negate_sdk.conformance import check_entry
from negate_sdk.plugin_template import plugin_names
from negate_sdk.plugins import PluginHost, use_host

FILES = {
    "pyproject.toml",
    "README.md",
    "negate_acme/__init__.py",
    "negate_acme/components.py",
    "tests/test_negate_acme.py",
}


def new_plugin(*args: str):
    return CliRunner().invoke(build_cli(), ["new-plugin", *args])


def listing(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def generated(tmp_path):
    result = new_plugin("negate-acme", "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "negate-acme"
    assert result.output == f"wrote {folder}; install it with: pip install -e {folder}\n"
    return folder


def test_the_names_a_plugin_uses():
    assert plugin_names("Negate_Acme") == {"dist": "negate-acme", "module": "negate_acme", "prefix": "acme"}
    assert plugin_names("brightness")["prefix"] == "brightness"
    with pytest.raises(ValueError, match="is a Python keyword"):
        plugin_names("import")


def test_generated_package_installs_is_found_and_conforms(generated, tmp_path, monkeypatch):
    assert listing(generated) == FILES and sorted(p.name for p in tmp_path.iterdir()) == ["negate-acme"]
    pyproject = (generated / "pyproject.toml").read_text()
    assert 'name = "negate-acme"' in pyproject
    assert '[project.entry-points.negate]\nnegate_acme = "negate_acme"\n' in pyproject
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(generated)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.syspath_prepend(str(site))
    try:
        host = PluginHost()
        host.load_entrypoints(only=["negate-acme"], autoload=False)  # found by its entry point, by dist name
        info = host.plugins["negate_acme"]
        assert (info.distribution, info.version, info.builtin) == ("negate-acme", "0.1.0", False)
        assert info.hooks == ["negate_register_detectors", "negate_register_extractors"]
        assert host.failures() == []
        assert host.registry("extractor").names("acme*") == ["acme_neighbour_diffs"]
        assert host.registry("detector").get("acme_logistic").plugin == "negate_acme"
        with use_host(host):
            for kind, name in (("extractor", "acme_neighbour_diffs"), ("detector", "acme_logistic")):
                check_entry(host.registry(kind).get(name), tmp_path / name)
            # red alternates 0/255 along rows: horizontal neighbours differ by 1.0, vertical ones by 0
            pixels = np.zeros((8, 8, 3), dtype=np.uint8)
            pixels[:, ::2, 0] = 255
            features = (
                host.registry("extractor")
                .create("acme_neighbour_diffs")
                .transform([Sample.from_array(pixels)])
            )
            np.testing.assert_allclose(features, [[1.0, 0, 0, 0, 0, 0]])
    finally:
        for module in [m for m in sys.modules if m == "negate_acme" or m.startswith("negate_acme.")]:
            del sys.modules[module]


def test_generated_tests_pass(generated):
    env = {**os.environ, "PYTHONPATH": str(generated)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=generated, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_an_existing_folder_is_refused_and_left_alone(tmp_path):
    mine = tmp_path / "negate-acme"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    result = new_plugin("negate_acme", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert result.output == f"Error: {mine} already exists; choose another name or --output\n"
    assert listing(tmp_path) == {"negate-acme/notes.txt"} and (mine / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["negate-acme"]  # no staging folder left behind


def test_a_bad_name_or_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    result = new_plugin("1st plugin", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert result.output == (
        "Error: plugin name '1st plugin' must start with a letter and hold only letters, digits, "
        "'-' and '_'\n"
    )
    import negate_sdk.plugin_template as template

    # the second file cannot be written (its folder would be a file): the staging folder goes too
    monkeypatch.setattr(template, "TEMPLATES", {"README.md": "x", "README.md/inner.txt": "y"})
    with pytest.raises(OSError):
        write_plugin("negate-acme", tmp_path)
    assert list(tmp_path.iterdir()) == []
