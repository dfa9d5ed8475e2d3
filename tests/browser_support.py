"""What the browser tests share: Debian's Chromium (nothing downloads a browser), its flags,
and the rule that CI (GFXNN_REQUIRE_BROWSER=1) fails without it where a developer's machine
skips. `needs_chromium` is the tests' mark; `launch` starts it through Playwright."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",  # no GPU process for WebGL/compositing; WebGPU still gets SwiftShader
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# SwiftShader's WebGPU adapter (WebGPU on the CPU); navigator.gpu exists on 127.0.0.1 pages
WEBGPU_ARGS = [*ARGS, "--enable-unsafe-webgpu"]

if os.environ.get("GFXNN_REQUIRE_BROWSER") == "1" and not CHROMIUM.exists():
    raise RuntimeError("GFXNN_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
)


def launch(playwright: Any, webgpu: bool = False) -> Any:
    """A Chromium browser (with SwiftShader's WebGPU when `webgpu`)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=WEBGPU_ARGS if webgpu else ARGS
    )
