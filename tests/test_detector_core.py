"""The detector core: every family on one base, asked what it can do; one fit path; the layering rules."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_bench_run import write_dataset

import negate_sdk
from negate_sdk.bench.results import read_results
from negate_sdk.cli.bench import build_cli as build_bench_cli
from negate_sdk.cli.negate import build_cli as build_negate_cli
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import BaseDetector, Detector, TrainableDetector, fit_detector, load_detector
from negate_sdk.plugins import PluginHost
from negate_sdk.registry import Registry, matches

ROOT = Path(__file__).resolve().parents[1]
TINY_SATURATE = [
    "--param",
    "epochs=1",
    "--param",
    "image_size=16",
    "--param",
    "batch_size=8",
    "--param",
    "verbose=false",
    "--param",
    "device=cpu",
]


def test_the_composite_detector_is_the_package_detector():
    detector = negate_sdk.Detector(extractors=["spectral"], classifier="logistic")
    assert isinstance(detector, BaseDetector) and detector.takes_features
    assert [e.name for e in detector.feature_extractors()] == ["spectral"]
    assert negate_sdk.Detector is Detector


@pytest.mark.parametrize("name", ["hybrid", "handcrafted", "spectral", "dummy", "saturate_cnn", "supcon"])
def test_every_registered_family_is_on_the_core(name):
    detector = negate_sdk.create_detector(
        name, **negate_sdk.get_detector(name).metadata.get("test_params", {})
    )
    assert isinstance(detector, BaseDetector)
    assert detector.takes_features == isinstance(detector, Detector)
    assert isinstance(detector, TrainableDetector) == (name in ("saturate_cnn", "supcon"))


def test_the_one_fit_path_records_the_training_data_for_every_family():
    samples = conformance_samples(12)
    for detector in (
        Detector(extractors=["colour"], classifier="logistic"),
        negate_sdk.create_detector("dummy"),
    ):
        fitted = fit_detector(detector, samples, training_info={"trained_on": ["toy"]})
        assert fitted.detector.trained_on == ["toy"] and fitted.n_used == 12
        assert fitted.detector.describe()["trained_on"] == ["toy"]


def test_a_saved_trainable_detector_scored_on_its_own_training_data_is_flagged_contaminated(tmp_path):
    table = write_dataset(tmp_path / "data", n_per_group=6)
    model = tmp_path / "model"
    trained = CliRunner().invoke(
        build_negate_cli(),
        [
            "train",
            "--detector",
            "saturate_cnn",
            "--dataset",
            str(table),
            "--out",
            str(model),
            "--no-cache",
            *TINY_SATURATE,
        ],
    )
    assert trained.exit_code == 0, trained.output
    card = json.loads((model / "detector.json").read_text())
    assert card["family"] == "trainable" and card["trained_on"] == ["data"]
    scored = CliRunner().invoke(
        build_bench_cli(),
        [
            "run",
            "--model",
            str(model),
            "--dataset",
            str(table),
            "--output",
            str(tmp_path / "out"),
            "--no-cache",
            "--n-boot",
            "20",
        ],
    )
    assert scored.exit_code == 0, scored.output
    (entry,) = read_results(tmp_path / "out" / "results.json")["runs"]
    assert entry["family"] == "trainable" and entry["contaminated"] is True
    assert entry["trained_on"] == ["data"]


def test_one_name_rule_for_listing_and_running():
    names = ["spectral", "spectral_peaks", "clip_vit_l14", "clip_vit_b32"]
    assert matches(names, "spectral") == ["spectral"]  # a registered name is itself
    assert matches(names, "peak") == ["spectral_peaks"]  # any other bare word: names containing it
    assert matches(names, "clip_*") == ["clip_vit_b32", "clip_vit_l14"]  # wildcards: fnmatch
    assert matches(names, "nothing") == []
    registry = Registry("detector")
    for name in names:
        registry.register(name, dict, plugin="tests")
    assert registry.names("spectral") == matches(names, "spectral")


def test_a_plugin_can_be_blocked_by_name():
    host = PluginHost.from_env({"NEGATE_BLOCK_PLUGINS": "negate_recipes, negate-example"})
    assert host.plugins["negate_recipes"].blocked and host.plugins["negate_example"].blocked
    assert "hybrid" not in host.registry("detector") and "example_colour_logistic" not in host.registry(
        "detector"
    )
    assert "saturate_cnn" in host.registry("detector")  # the other plugins load as usual
    assert not host.failures()


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules a file imports anywhere (function-level imports included)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # "from package import submodule" imports the submodule; "from module import name", the module
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            ]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def project_modules() -> dict[str, Path]:
    """Every module of negate_sdk and the first-party plugins, by dotted name."""
    out = {}
    bases = [
        (ROOT, ROOT / "negate_sdk"),
        *((ROOT / "plugins", p) for p in (ROOT / "plugins").glob("negate_*")),
    ]
    bases.append(
        (ROOT / "plugins" / "negate-example", ROOT / "plugins" / "negate-example" / "negate_example")
    )
    for base, package in bases:
        for path in package.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_the_import_graph_has_no_cycles_and_no_plugin_imports_another():
    modules = project_modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    for name, targets in graph.items():
        top = name.partition(".")[0]
        others = {t for t in targets if t.partition(".")[0] not in (top, "negate_sdk")}
        assert not others, f"plugin module {name} imports another plugin: {sorted(others)}"
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target] if target in path else [node, target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_runner_and_the_cli_never_ask_what_class_a_detector_is():
    for path in [*(ROOT / "negate_sdk" / "bench").glob("*.py"), *(ROOT / "negate_sdk" / "cli").glob("*.py")]:
        text = path.read_text()
        assert "isinstance(detector" not in text and "inspect.signature(detector" not in text, path.name
        assert 'getattr(detector, "thresholds"' not in text, path.name


def test_a_detector_survives_save_and_load_with_one_card_format(tmp_path):
    samples = conformance_samples(12)
    for detector in (Detector(extractors=["colour"]), negate_sdk.create_detector("dummy", seed=3)):
        detector.fit(samples).set_training_info(trained_on=["toy"])
        card_dir = detector.save(tmp_path / detector.name)
        card = json.loads((card_dir / "detector.json").read_text())
        assert {"detector", "family", "params", "calibrator", "thresholds", "trained_on"} <= set(card)
        loaded = load_detector(card_dir)
        assert type(loaded) is type(detector) and loaded.trained_on == ["toy"]
        np.testing.assert_array_equal(loaded.predict_proba(samples), detector.predict_proba(samples))
