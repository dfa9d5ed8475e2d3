"""The contact sheet: for each image, its reference and every trial's prediction, labelled with
the trial's swept values and PSNR; the best finished trial of each image framed in green."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from gfxnn.apps.sweep.plan import SweepImage, Trial
from gfxnn.apps.sweep.results import ranked_psnr
from gfxnn.apps.sweep.trial import PREDICTION_FILE
from gfxnn.data.images import to_uint8

__all__ = ["SHEET_FILE", "contact_sheet"]

SHEET_FILE = "contact_sheet.png"
TILE = 128  # thumbnail side in pixels
COLUMNS = 8  # tiles per line, the reference included; an image with more trials wraps
CAPTION = 30  # two caption lines under each tile
PAD = 4
BACKGROUND = (24, 24, 24)
TEXT = (230, 230, 230)
BEST = (60, 200, 90)
MISSING = (70, 70, 70)


def contact_sheet(
    images: Sequence[SweepImage],
    trials: Sequence[Trial],
    rows: Sequence[dict[str, Any]],
    out_dir: Path,
) -> bytes:
    """PNG bytes of the sheet. A trial with no prediction yet (pending, failed) is a grey
    tile with its status."""
    font = _font()
    lines: list[list[tuple[Image.Image, str, str, bool]]] = []
    for image in images:
        cells = [(_thumbnail(Image.fromarray(to_uint8(image.pixels))), image.label, "reference")]
        mine = [(t, r) for t, r in zip(trials, rows, strict=True) if t.image == image.label]
        best = _best_index(mine)
        tiles: list[tuple[Image.Image, str, str, bool]] = [(*cells[0], False)]
        for trial, row in mine:
            tile = _prediction(out_dir, trial, row)
            tiles.append((tile, trial.label, _result(row), trial.index == best))
        lines.extend(tiles[i : i + COLUMNS] for i in range(0, len(tiles), COLUMNS))
    width = PAD + max(len(line) for line in lines) * (TILE + PAD)
    height = PAD + max(1, len(lines)) * (TILE + CAPTION + PAD)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for row_number, line in enumerate(lines):
        top = PAD + row_number * (TILE + CAPTION + PAD)
        for column, (tile, label, result, is_best) in enumerate(line):
            left = PAD + column * (TILE + PAD)
            sheet.paste(tile, (left, top))
            if is_best:
                frame = (left - 2, top - 2, left + TILE + 1, top + TILE + 1)
                draw.rectangle(frame, outline=BEST, width=2)
            draw.text((left, top + TILE + 2), _fit(draw, label, font), fill=TEXT, font=font)
            draw.text((left, top + TILE + 15), _fit(draw, result, font), fill=TEXT, font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _font() -> Any:
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _thumbnail(image: Image.Image) -> Image.Image:
    """Fit into TILE x TILE keeping the aspect ratio (nearest for small images: crisp texels)."""
    scale = TILE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    tile = Image.new("RGB", (TILE, TILE), BACKGROUND)
    corner = ((TILE - size[0]) // 2, (TILE - size[1]) // 2)
    tile.paste(image.convert("RGB").resize(size, resample), corner)
    return tile


def _prediction(out_dir: Path, trial: Trial, row: dict[str, Any]) -> Image.Image:
    path = out_dir / trial.dir_name / PREDICTION_FILE
    # is_file: a FIFO of that name would block open(). PNG only: gfxnn fit wrote it; no other
    # decoder (EPS runs Ghostscript) may see a file planted under that name in a reused --out.
    if row["status"] in ("pending",) or not path.is_file():
        return Image.new("RGB", (TILE, TILE), MISSING)
    try:
        with Image.open(path, formats=["PNG"]) as image:
            return _thumbnail(image)
    except (OSError, SyntaxError, ValueError):  # not a PNG, or a damaged one: shown as missing
        return Image.new("RGB", (TILE, TILE), MISSING)


def _result(row: dict[str, Any]) -> str:
    psnr = ranked_psnr(row)
    if psnr is None or math.isnan(psnr):
        text = "-"
    else:
        text = f"{psnr:.2f} dB" if math.isfinite(psnr) else "exact (inf dB)"
    return text if row["status"] == "ok" else f"{row['status']} {text}"


def _best_index(mine: Sequence[tuple[Trial, dict[str, Any]]]) -> int | None:
    ranked = [(ranked_psnr(r), -t.index) for t, r in mine if r["status"] == "ok"]
    done = [(psnr, index) for psnr, index in ranked if psnr is not None]
    return -max(done)[1] if done else None


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any) -> str:
    """`text` shortened with an ellipsis to the tile's width."""
    if draw.textlength(text, font=font) <= TILE:
        return text
    while text and draw.textlength(text + "...", font=font) > TILE:
        text = text[:-1]
    return text + "..."
