"""Starting the studio: load the first image, build the session and app, serve with uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled, read_image

__all__ = [
    "DEVICES",
    "HELP",
    "StudioError",
    "add_arguments",
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


def serve(
    image: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "auto",
    out_dir: str | Path = "studio-runs",
    allow_remote: bool = False,
    log_level: str = "warning",
) -> None:
    """Run the studio until Ctrl-C. Raises StudioError for bad arguments."""
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
    session = TrainingSession(loaded, out_dir=out, device=trains_on)
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

    parser.description = (
        "Serve a local web page that trains an MLP on an image while you watch (reference "
        "left, prediction right, loss/PSNR charts, every Dx12NN control). Needs the studio "
        "extra: pip install 'gfxnn[studio]'. See docs/studio.md."
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
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (no authentication: anyone who reaches the port "
        "controls the studio)",
    )


def run(args: Any) -> int:
    """`gfxnn studio`: serve until Ctrl-C; bad input is a UsageError."""
    from gfxnn.apps.command import EXIT_OK, UsageError

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
        )
    except StudioError as error:
        raise UsageError(error) from None
    return EXIT_OK
