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
