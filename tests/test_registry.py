from __future__ import annotations

import sys

import pytest

import negate_sdk
from negate_sdk.registry import (
    DuplicateNameError,
    MissingDependencyError,
    Registry,
    UnknownNameError,
    suggest,
)


class Widget:
    """A widget for tests."""

    def __init__(self, size: int = 1, colour: str = "red") -> None:
        self.size = size
        self.colour = colour


def make_registry() -> Registry:
    registry = Registry("extractor")
    for name in ("spectral", "spectral_peaks", "residual", "clip_vit_l14", "clip_vit_b32", "lbp"):
        registry.register(name, Widget, plugin="tests")
    return registry


def test_list_with_wildcards_substrings_and_exclude():
    registry = make_registry()
    assert registry.names("clip_*") == ["clip_vit_b32", "clip_vit_l14"]
    assert registry.names("*_l14") == ["clip_vit_l14"]
    # one rule (registry.matches): a registered bare name is itself; any other bare word is a substring
    assert registry.names("spectral") == ["spectral"]
    assert registry.names("spectr") == ["spectral", "spectral_peaks"]
    assert registry.names(["lbp", "resid*"]) == ["lbp", "residual"]
    assert registry.names("*", exclude="clip_*") == ["lbp", "residual", "spectral", "spectral_peaks"]
    assert registry.names("nothing*") == []
    assert registry.names() == sorted(registry.names())


def test_create_passes_params_and_refuses_unknown_ones():
    registry = make_registry()
    widget = registry.create("lbp", size=3)
    assert (widget.size, widget.colour) == (3, "red")
    with pytest.raises(TypeError, match=r"no parameter 'sise'; its parameters are: colour, size"):
        registry.create("lbp", sise=3)


def test_duplicate_name_names_both_plugins():
    registry = make_registry()
    with pytest.raises(
        DuplicateNameError, match=r"'lbp' is registered by both plugin 'tests' and plugin 'other'"
    ):
        registry.register("lbp", Widget, plugin="other")


def test_unknown_name_suggests_the_closest():
    registry = make_registry()
    with pytest.raises(UnknownNameError, match=r"unknown extractor 'spectrl'; did you mean 'spectral'"):
        registry.get("spectrl")
    with pytest.raises(UnknownNameError, match="negate-bench list extractors"):
        registry.get("zzzzzz")
    assert suggest("clip_vit_l41", registry.names())[0] == "clip_vit_l14"


def test_lazy_factory_is_not_imported_until_created():
    registry = Registry("detector")
    module = "negate_sdk.conformance"
    sys.modules.pop(module, None)
    entry = registry.register("lazy", f"{module}:conformance_samples", plugin="tests")
    assert entry.lazy and entry.factory_path == f"{module}:conformance_samples"
    assert registry.names() == ["lazy"]
    assert module not in sys.modules
    samples = registry.create("lazy", n=3)
    assert [s.id for s in samples] == ["conformance-0", "conformance-1", "conformance-2"]
    assert module in sys.modules


def test_missing_dependency_names_the_extra():
    registry = Registry("extractor")
    registry.register("ghost", "no_such_module_negate:Thing", plugin="tests", requires="torch")
    with pytest.raises(MissingDependencyError) as err:
        registry.create("ghost")
    message = str(err.value)
    assert "extractor 'ghost' cannot be loaded (No module named 'no_such_module_negate')" in message
    assert "pip install 'negate-sdk[torch]'" in message
    assert "\n" not in message


@pytest.mark.parametrize("bad", ["Bad Name", "", "UPPER", "x/y"])
def test_malformed_names_are_refused(bad):
    with pytest.raises(ValueError, match="not lower snake case"):
        Registry("extractor").register(bad, Widget)


def test_malformed_factories_are_refused():
    registry = Registry("extractor")
    with pytest.raises(ValueError, match="is not 'module:attr'"):
        registry.register("a", "module_without_colon")
    with pytest.raises(ValueError, match="neither callable"):
        registry.register("b", 42)


def test_description_defaults_to_the_docstring_and_metadata_is_kept():
    entry = Registry("extractor").register("w", Widget, plugin="p", uses_clip=True, tags=["x"])
    assert entry.description == "A widget for tests."
    assert entry.to_dict() == {
        "name": "w",
        "kind": "extractor",
        "plugin": "p",
        "description": "A widget for tests.",
        "tags": ["x"],
        "factory": "test_registry:Widget",
        "metadata": {"uses_clip": True},
    }


def test_module_level_verbs_read_the_process_host():
    assert negate_sdk.is_detector("dummy")
    assert not negate_sdk.is_detector("dumy")
    assert "dummy" in negate_sdk.list_detectors()
    assert negate_sdk.list_detectors("example_*") == ["example_colour_logistic"]
    assert negate_sdk.get_detector("dummy").plugin == "negate_recipes"
    assert negate_sdk.create_detector("dummy", seed=3).seed == 3
    assert negate_sdk.list_extractors("example*") == ["example_colour_moments"]
    with pytest.raises(UnknownNameError, match="did you mean 'dummy'"):
        negate_sdk.create_detector("dumy")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown registry kind"):
        Registry("model")
