"""The files of a new plugin package, as written by ``negate-bench new-plugin NAME``.

:func:`plugin_files` fills the templates for one plugin name: a ``pyproject.toml`` announcing the plugin in
the ``negate`` entry-point group, a module registering one small extractor and one recipe on a built-in
head, a test running the SDK's conformance suite on both, and a README. The templates are plain strings
with ``__PLACEHOLDERS__`` (no braces to escape in the code they hold).
"""

from __future__ import annotations

import keyword
import re

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "A negate plugin: one extractor and one detector recipe"
requires-python = ">=3.10"
dependencies = ["negate-sdk", "numpy", "scikit-learn"]

[project.optional-dependencies]
test = ["pytest"]

# This is all it takes to be found by negate: an entry point in the 'negate' group.
[project.entry-points.negate]
__MODULE__ = "__MODULE__"

[tool.setuptools]
packages = ["__MODULE__"]
"""

INIT = '''\
"""The __DIST__ negate plugin: hooks registering one extractor and one recipe.

Factories are lazy ``"module:attr"`` strings: listing never imports them.
"""

from __future__ import annotations

from negate_sdk import hookimpl

__version__ = "0.1.0"


@hookimpl
def negate_register_extractors(register):
    """Register the neighbour-differences extractor."""
    register(
        "__PREFIX___neighbour_diffs",
        "__MODULE__.components:NeighbourDiffs",
        description="Mean absolute difference of neighbouring pixels per channel",
    )


@hookimpl
def negate_register_detectors(register):
    """Register a recipe: that extractor into the built-in logistic regression head."""
    register(
        "__PREFIX___logistic",
        "__MODULE__.components:logistic",
        description="Neighbour differences -> logistic regression, calibrated",
    )
'''

COMPONENTS = '''\
"""The plugin's components: plain objects following ``negate_sdk.api``."""

from __future__ import annotations

import numpy as np
from negate_sdk import Detector
from negate_sdk.api import BaseExtractor


class NeighbourDiffs(BaseExtractor):
    """Mean absolute difference of neighbouring pixels, per channel and axis.

    ``pixels`` are read-only: copy them (``astype`` does) to change them.
    """

    name = "__PREFIX___neighbour_diffs"
    version = "1"  # bump when the numbers change: cached features are keyed by it

    def feature_names(self):
        """``dx_r, dx_g, dx_b, dy_r, dy_g, dy_b``."""
        return [f"{axis}_{channel}" for axis in ("dx", "dy") for channel in "rgb"]

    def features(self, pixels):
        """``(6,)`` features of one ``(height, width, 3)`` uint8 image."""
        values = pixels.astype(np.float64) / 255.0
        dx = np.abs(np.diff(values, axis=1)).mean(axis=(0, 1))
        dy = np.abs(np.diff(values, axis=0)).mean(axis=(0, 1))
        return np.concatenate([dx, dy])


def logistic(random_state: int = 0) -> Detector:
    """The recipe: registered extractors by name into a registered head, in one line."""
    return Detector(
        extractors=["__PREFIX___neighbour_diffs"],
        classifier="logistic",
        random_state=random_state,
        name="__PREFIX___logistic",
    )
'''

TEST = '''\
"""The plugin's components through negate's conformance suite (no files, no network)."""

from __future__ import annotations

import pytest
from negate_sdk.conformance import check_entry
from negate_sdk.plugins import PluginHost, use_host

import __MODULE__

COMPONENTS = [("extractor", "__PREFIX___neighbour_diffs"), ("detector", "__PREFIX___logistic")]


def make_host():
    """The built-ins (the recipe uses their 'logistic' head) and this plugin."""
    host = PluginHost()
    host.load_entrypoints(autoload=False)
    host.add_plugin(__MODULE__, "__MODULE__")
    return host


@pytest.mark.parametrize(("kind", "name"), COMPONENTS)
def test_component_conforms(kind, name, tmp_path):
    host = make_host()
    with use_host(host):
        entry = host.registry(kind).get(name)
        assert entry.plugin == "__MODULE__"
        check_entry(entry, tmp_path / "saved")
    assert host.failures() == []
'''

README = """\
# __DIST__

A plugin for [negate-sdk](https://pypi.org/project/negate-sdk/). It registers:

- the extractor `__PREFIX___neighbour_diffs`: mean absolute difference between neighbouring pixels, per
  channel and direction (6 features);
- the detector `__PREFIX___logistic`: those features into the built-in `logistic` head.

Install it next to negate-sdk and check that negate finds it:

```
pip install -e .
negate-bench plugins
negate-bench list detectors __PREFIX__
```

Run its tests (the SDK's conformance suite on both components):

```
pip install -e '.[test]'
pytest tests
```

Rename the components, change `features` in `__MODULE__/components.py`, and bump the extractor's
`version` whenever its numbers change (cached features are keyed by it). Writing plugins:
`docs/plugins.md` of negate-sdk.
"""

TEMPLATES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "__MODULE__/__init__.py": INIT,
    "__MODULE__/components.py": COMPONENTS,
    "tests/test___MODULE__.py": TEST,
}


def plugin_names(name: str) -> dict[str, str]:
    """The names a plugin called ``name`` uses: distribution, module (also the entry point) and the prefix
    of its component names (the module without a leading ``negate_``).

    Raises ``ValueError`` (one line) for a name that is not letters, digits, ``-`` and ``_``.
    """
    if not _NAME_RE.match(name):
        raise ValueError(
            f"plugin name {name!r} must start with a letter and hold only letters, digits, '-' and '_'"
        )
    module = name.lower().replace("-", "_")
    if keyword.iskeyword(module):
        raise ValueError(f"plugin name {name!r} is a Python keyword and cannot name a module")
    return {
        "dist": module.replace("_", "-"),
        "module": module,
        "prefix": module.removeprefix("negate_") or module,
    }


def plugin_files(name: str) -> dict[str, str]:
    """``{relative path: text}`` of a new plugin package called ``name`` (see :func:`plugin_names`)."""
    names = plugin_names(name)

    def fill(text: str) -> str:
        for key in ("dist", "module", "prefix"):
            text = text.replace(f"__{key.upper()}__", names[key])
        return text

    return {fill(path): fill(text) for path, text in TEMPLATES.items()}
