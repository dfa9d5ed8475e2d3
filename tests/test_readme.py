"""The README's Python examples run as written, and the quickstart example learns."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.parametrize("index", range(len(README_BLOCKS)))
def test_readme_python_block_runs(index):
    exec(compile(README_BLOCKS[index], f"README.md block {index}", "exec"), {})


def test_readme_starts_with_the_two_commands():
    shell_blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert "gfxnn fit" in shell_blocks[0]
    assert "python -m pytest" in shell_blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in ci and "torch==2.13.0" in ci


def test_quickstart_example_fits_a_sine():
    quickstart = runpy.run_path(str(ROOT / "examples" / "quickstart.py"))
    assert quickstart["main"](steps=900) < 1e-3
