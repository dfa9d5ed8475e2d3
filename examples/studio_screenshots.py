"""Screenshots of `gfxnn studio`, one per example, for docs/studio.md.

For each example this starts the real command, `gfxnn studio --example NAME --port PORT`, on
a free loopback port (the volume example on a small volume written here as .npy), opens the
page in Debian's Chromium through Playwright (no browser is downloaded), lets it learn for --seconds
from the moment the page opens (no click: learning is on at start), and saves a 256-colour PNG
of the page as OUT/studio-NAME.png; the image example is also saved as OUT/studio.png, the
screenshot at the top of docs/studio.md. The steps, steps/s and PSNR each page showed are
printed, with the load average beside them (the machine is shared).

    python examples/studio_screenshots.py [--examples cosine,image] [--seconds 20]
                                          [--out docs/images]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES = ("cosine", "image", "four_images", "bubbles", "volume")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 960}


def small_png(png: bytes) -> bytes:
    """A 256-colour PNG: about a third of the size of the browser's, fine for a UI screenshot."""
    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()


def write_volume(path: Path) -> None:
    """A 32^3 RGB volume of smooth colour waves with a dark sphere in it (values in [0, 1])."""
    z, y, x = np.mgrid[0:32, 0:32, 0:32] / 31.0
    rgb = np.stack(
        [
            0.5 + 0.5 * np.sin(6.0 * x + 2.0 * z),
            0.5 + 0.5 * np.cos(5.0 * y - 3.0 * z),
            0.5 + 0.5 * np.sin(4.0 * (x + y + z)),
        ],
        axis=-1,
    )
    inside = (x - 0.5) ** 2 + (y - 0.5) ** 2 + (z - 0.5) ** 2 < 0.09
    rgb[inside] *= 0.2
    np.save(path, rgb.astype(np.float32))


class Studio:
    """`gfxnn studio` in a child process; its address read from the line it prints."""

    def __init__(self, example: str, workdir: Path) -> None:
        with socket.socket() as probe:  # a free port (the studio wants one >= 1)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "gfxnn.cli", "studio", "--port", str(port)]
        command += ["--out", str(workdir / "out"), "--example", example]
        if example == "volume":
            volume = workdir / "volume.npy"
            write_volume(volume)
            command += ["--volume", str(volume)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        found = re.search(r"open (http://\S+?)/?\s", line)
        if not found:
            self.close()
            error = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"gfxnn studio did not start: {line!r} {error.strip()!r}")
        self.url = found.group(1)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def shoot(browser, example: str, seconds: float, out: Path) -> dict:
    """Open the studio on `example`, let it learn, save the screenshot; returns what it showed."""
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(example, Path(tmp))
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(studio.url)
            page.wait_for_function(
                "() => { const s = window.gfxnnStudio.state(); return s && s.steps > 0; }",
                timeout=30_000,
            )
            time.sleep(seconds)
            state = page.evaluate("window.gfxnnStudio.state()")
            png = small_png(page.screenshot())
            page.close()
        finally:
            studio.close()
    (out / f"studio-{example}.png").write_bytes(png)
    if example == "image":
        (out / "studio.png").write_bytes(png)
    return {
        "example": example,
        "steps": state["steps"],
        "steps_per_second": state["steps_per_second"],
        "frames_per_second": state["frames_per_second"],
        "psnr": state["psnr"],
        "networks": [n["psnr"] for n in state["networks"]],
        "adapter": state["adapter"],
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES), help="comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="learning time per shot")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args(argv)
    examples = [name.strip() for name in args.examples.split(",") if name.strip()]
    unknown = sorted(set(examples) - set(EXAMPLES))
    if unknown:
        parser.error(f"unknown example(s) {unknown}; choose from {', '.join(EXAMPLES)}")
    if not os.path.exists(CHROMIUM):
        parser.error(f"needs Debian's Chromium at {CHROMIUM}")
    if not (args.seconds > 0):
        parser.error(f"--seconds must be > 0, got {args.seconds}")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for example in examples:
                print(json.dumps(shoot(browser, example, args.seconds, args.out)), flush=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
