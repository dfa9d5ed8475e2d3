"""Starting the studio: load the first image, build the session and app, serve with uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled, read_image

__all__ = [
    "DEVICES",
    "HELP",
    "StudioError",
    "add_arguments",
    "choose_example",
    "is_loopback",
    "load_first_image",
    "resolve_device",
    "run",
    "serve",
]

DEVICES = ("auto", "cpu", "cuda", "webgpu")


class StudioError(ValueError):
    """Bad input to `gfxnn studio` (one line for the terminal)."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_device(device: str, stderr: TextIO | None = None) -> str:
    """ "cpu" for auto/cpu (auto prints a one-line notice), "webgpu" when a WebGPU adapter is
    found (its name goes to stderr); cuda is an error until the studio drives the Warp path.
    A missing adapter is a StudioError (one line, exit 2) before anything is written."""
    if device not in DEVICES:
        raise StudioError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda":
        raise StudioError(
            "--device cuda: the studio does not drive the GPU path yet; use --device cpu, "
            "webgpu (or auto)"
        )
    if device == "webgpu":
        from gfxnn.apps.command import UsageError
        from gfxnn.apps.devices import resolve_device as resolve_fit_device
        from gfxnn.imagefit import FitSettings

        try:
            _, notice = resolve_fit_device("webgpu", FitSettings(), "gfxnn studio")
        except UsageError as error:
            raise StudioError(str(error)) from None
        print(notice, file=stderr or sys.stderr)
        return "webgpu"
    if device == "auto":  # WebGPU is asked for by name: probing an adapter costs seconds
        print("gfxnn studio: no GPU path yet, training on the CPU", file=stderr or sys.stderr)
    return "cpu"


def load_first_image(image: str | Path | None, max_pixels: int) -> LoadedImage:
    """IMAGE from the command line (a file, or a bundled name), astronaut when None."""
    from gfxnn.data.images import BUNDLED_IMAGES, ImageError

    if image is None:
        image = "astronaut"
    path = Path(image)
    if str(image) in BUNDLED_IMAGES and not path.exists():
        return LoadedImage(load_bundled(str(image)), bundled_image_source(str(image)))
    try:
        return read_image(path, max_pixels=max_pixels)
    except ImageError as error:
        raise StudioError(str(error)) from None


def choose_example(
    example: str | None, volume: str | Path | None, max_voxels: int
) -> tuple[str, Any]:
    """(the first example, the volume's values or None): --volume FILE.npy read and checked
    (`gfxnn.fields.examples.load_volume`; at most `max_voxels` = D * H * W, the image pixel
    cap), and implying --example volume; --example volume without it is an error."""
    from gfxnn.fields.examples import EXAMPLES, VolumeError, load_volume

    if example is not None and example not in EXAMPLES:
        raise StudioError(f"--example must be one of {', '.join(EXAMPLES)}, got {example!r}")
    if volume is None:
        if example == "volume":
            raise StudioError("--example volume needs --volume FILE.npy")
        return example or "image", None
    if example not in (None, "volume"):
        raise StudioError(f"--volume is for --example volume, not --example {example}")
    try:
        values = load_volume(volume)
    except VolumeError as error:
        raise StudioError(str(error)) from None
    voxels = int(np.prod(values.shape[:3]))
    if voxels > max_voxels:
        raise StudioError(
            f"--volume {volume}: {values.shape[:3]} is {voxels} voxels; the studio takes at most "
            f"{max_voxels} (the image pixel cap: every frame infers a slice, training samples all)"
        )
    return "volume", values


def serve(
    image: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    out_dir: str | Path = "studio-runs",
    allow_remote: bool = False,
    log_level: str = "warning",
    paused: bool = False,
    example: str | None = None,
    volume: str | Path | None = None,
) -> None:
    """Run the studio until Ctrl-C (learning on from the start unless `paused`), showing
    `example` (default "image", or "volume" when `volume`, a .npy file, is given). Raises
    StudioError for bad arguments."""
    import uvicorn

    from gfxnn.apps.fit import OutputDirError, prepare_output_dir
    from gfxnn.apps.studio.server import LOOPBACK_HOSTS, create_app
    from gfxnn.apps.studio.session import TrainingSession
    from gfxnn.apps.studio.uploads import DEFAULT_MAX_UPLOAD_PIXELS

    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise StudioError(
            f"--host {host} is not a loopback address; the studio has no authentication, so "
            "binding elsewhere needs --allow-remote"
        )
    if not 1 <= port <= 65535:
        raise StudioError(f"--port must be in 1..65535, got {port}")
    trains_on = resolve_device(device)
    loaded = load_first_image(image, DEFAULT_MAX_UPLOAD_PIXELS)
    example, values = choose_example(example, volume, DEFAULT_MAX_UPLOAD_PIXELS)
    # Bind before anything is written or announced: a busy port is one line and exit 2,
    # not "open http://..." followed by uvicorn's own exit 3.
    listener = listen_socket(host, port)
    try:
        out = prepare_output_dir(out_dir)
    except OutputDirError as error:
        listener.close()
        raise StudioError(str(error)) from None
    if not loopback:
        print(
            f"gfxnn studio: WARNING: listening on {host}: anyone who can reach this port can "
            "control training and upload images (there is no authentication)",
            file=sys.stderr,
        )
    try:
        session = TrainingSession(
            loaded,
            out_dir=out,
            device=trains_on,
            paused=paused,
            example=example,
            volume=values,
            volume_source=str(volume),
        )
    except ValueError as error:  # the first example cannot be built (one line, exit 2)
        listener.close()
        raise StudioError(str(error)) from None
    # Against DNS rebinding, a loopback server answers only requests that name a loopback host.
    allowed = None if allow_remote else (*LOOPBACK_HOSTS, host)
    app = create_app(session, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    bound_port = listener.getsockname()[1]
    print(f"gfxnn studio: open http://{shown}:{bound_port}/  (Ctrl-C to stop; files go to {out}/)")
    config = uvicorn.Config(app, log_level=log_level, ws_max_size=MAX_WEBSOCKET_BYTES)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()


MAX_WEBSOCKET_BYTES = 16 * 1024 * 1024
"""Largest WebSocket message the server reads (uvicorn's default, stated here). A message
over protocol.MAX_MESSAGE_CHARS and under this gets an error reply; one over this cannot be
answered without buffering it, so the connection is closed with code 1009 (RFC 6455)."""


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; a busy or unusable address is a
    StudioError naming it."""
    bare = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StudioError(f"--host {host}: cannot resolve it ({error.strerror})") from None
    listener = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":  # as uvicorn does: rebinding right after a restart is allowed
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        hint = (
            "; is another gfxnn studio running? choose another --port"
            if (error.errno == errno.EADDRINUSE)
            else ""
        )
        raise StudioError(
            f"cannot listen on {host}:{port}: {error.strerror or error}{hint}"
        ) from None
    return listener


# ----- the command: `gfxnn studio` (declared here, run by gfxnn.cli) -------------------------
HELP = "Dx12NN's window in the browser: live training with every control"


def add_arguments(parser: Any) -> None:
    """Declare `gfxnn studio`'s arguments on `parser` (an argparse.ArgumentParser)."""
    from gfxnn.apps.command import nonempty_path, positive_int
    from gfxnn.fields.examples import EXAMPLES

    parser.description = (
        "Serve a local web page that trains an MLP while you watch, learning at once: an "
        "image, a 1-D cosine, four images, 3-D bubbles or a .npy volume (reference left, "
        "prediction right, loss/PSNR charts, every Dx12NN and MLPZen control). Needs the "
        "studio extra: pip install 'gfxnn[studio]'. See docs/studio.md."
    )
    parser.add_argument(
        "image", nargs="?", metavar="IMAGE", help="PNG/JPEG or a bundled name (astronaut)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=positive_int, default=8000, help="(8000)")
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="cpu, or webgpu: WGSL compute shaders on a WebGPU adapter (pip install "
        "'gfxnn[webgpu]'); auto: the CPU",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=nonempty_path,
        default=Path("studio-runs"),
        help="where checkpoints and exports are written (./studio-runs)",
    )
    parser.add_argument(
        "--paused",
        action="store_true",
        help="start with learning off (by default the network learns at once, as in Dx12NN "
        "and MLPZen)",
    )
    parser.add_argument(
        "--example",
        choices=EXAMPLES,
        default=None,
        help="the first example: cosine, image (default), four_images, bubbles, volume",
    )
    parser.add_argument(
        "--volume",
        metavar="FILE.npy",
        type=nonempty_path,
        default=None,
        help="a (D, H, W) or (D, H, W, C) .npy array in [0, 1] (or uint8/uint16) to learn; "
        "implies --example volume",
    )
    parser.add_argument(
        "--static",
        metavar="DIR",
        type=nonempty_path,
        help="write a static studio into DIR and exit: a folder that trains in the browser's "
        "WebGPU with no server (any static host; see docs/studio.md)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (no authentication: anyone who reaches the port "
        "controls the studio)",
    )


def run(args: Any) -> int:
    """`gfxnn studio`: serve until Ctrl-C; bad input is a UsageError."""
    from gfxnn.apps.command import EXIT_OK, UsageError

    if args.static is not None:  # a folder of files, no server: the extra is not needed
        from gfxnn.apps.studio.static_site import run_static
        from gfxnn.apps.studio.uploads import DEFAULT_MAX_UPLOAD_PIXELS

        image = args.image
        try:
            first = None if image is None else load_first_image(image, DEFAULT_MAX_UPLOAD_PIXELS)
        except StudioError as error:
            raise UsageError(error) from None
        return run_static(args.static, first)
    try:  # the extra's presence, checked before anything starts
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise UsageError(f"{error}; install the extra: pip install 'gfxnn[studio]'") from None
    try:
        serve(
            args.image,
            host=args.host,
            port=args.port,
            device=args.device,
            out_dir=args.out,
            allow_remote=args.allow_remote,
            paused=args.paused,
            example=args.example,
            volume=args.volume,
        )
    except StudioError as error:
        raise UsageError(error) from None
    return EXIT_OK
