"""Shared fixtures: every test gets a fresh plugin host holding only the built-ins and negate-example."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

from negate_sdk.plugins import PluginHost, use_host

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# ONNX graphs exported during the tests go to one folder of this run, never the user's weights cache
if "NEGATE_ONNX_CACHE" not in os.environ:
    os.environ["NEGATE_ONNX_CACHE"] = tempfile.mkdtemp(prefix="negate-onnx-")
    atexit.register(shutil.rmtree, os.environ["NEGATE_ONNX_CACHE"], ignore_errors=True)

EXAMPLE_PLUGIN = "negate_example"


def make_default_host() -> PluginHost:
    """Built-in plugins plus the example plugin the test set-up installs; nothing else from the machine."""
    host = PluginHost()
    host.load_entrypoints(autoload=False)
    host.load_entrypoints(only=[EXAMPLE_PLUGIN])
    return host


@pytest.fixture(autouse=True)
def default_host(monkeypatch):
    """Isolate every test from the machine's installed plugins and from each other."""
    monkeypatch.delenv("NEGATE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("NEGATE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    with use_host(make_default_host()) as host:
        yield host


@pytest.fixture
def empty_host():
    """A host with no plugins at all, set as the process-wide host for the test."""
    with use_host(PluginHost()) as host:
        yield host
