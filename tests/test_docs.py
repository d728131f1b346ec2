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
