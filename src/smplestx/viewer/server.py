"""The local web server of ``smplestx view``: the page, the list of files, and each file's scene on request.

Served by Python's ``http.server`` on 127.0.0.1 (no extra dependency); the page (``static/``, three.js
vendored, MIT) asks for ``files.json`` and then, per file, ``f/NAME/meta.json``, ``f/NAME/faces.bin``,
``f/NAME/frame/K.bin`` (vertices), ``f/NAME/frame/K.json`` (2D joints) and ``f/NAME/frame/K.jpg`` (the picture).
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from .images import FrameImages
from .scenes import NOT_VIEWABLE, Bodies, Scene, ViewerError, file_kind, open_scene

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {"index.html": "text/html", "viewer.js": "text/javascript",
                 "three-subset.min.js": "text/javascript", "THREE_LICENSE.txt": "text/plain"}
#: Files of a folder the viewer offers, by name (their content decides how they are read).
_SUFFIXES = (".npz", ".json", ".glb", ".bvh", ".smpl", ".mcs")


def find_inputs(path: str | Path) -> list[Path]:
    """The files to offer: ``path`` itself, or every results, track and animation file directly in a folder."""
    p = Path(path).expanduser()
    if p.is_file():
        if file_kind(p) is None:
            raise ViewerError(f"{p}: {NOT_VIEWABLE}")
        return [p]
    if not p.is_dir():
        raise ViewerError(f"{p}: no such results file or output folder")
    found = [q for q in sorted(p.iterdir()) if q.suffix.lower() in _SUFFIXES and q.is_file() and file_kind(q)]
    npz_stems = {q.stem for q in found if q.suffix.lower() == ".npz"}
    found = [q for q in found if not (q.suffix.lower() == ".json" and q.stem in npz_stems)]  # --json twin of an .npz
    if not found:
        raise ViewerError(f"{p}: no results, track or animation file in this folder; run `smplestx infer ...` "
                          "(or `smplestx export ...`) first")
    return found


def find_results_file(path: str | Path) -> Path:
    """The one file to show for ``path`` (a file, or a folder holding exactly one viewable file)."""
    found = find_inputs(path)
    if len(found) > 1:
        raise ViewerError(f"{path} holds {len(found)} viewable files ({', '.join(q.name for q in found[:5])}); "
                          "give one of them")
    return found[0]


def _body_folder(files: list[Path], explicit: str | Path | None) -> Path:
    """The body models: the flag; else a demo's synthetic body next to its results; else env, then config file."""
    from ..user_config import find_body_models

    demo_body = files[0].parent.parent / "body_models"
    if explicit is None and (demo_body / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        return demo_body  # `smplestx demo` output: the results were made with the synthetic body next to them
    return find_body_models(explicit)


class Library:
    """The files the page can open, each scene read on first request and kept."""

    def __init__(self, files: list[Path], bodies: Bodies) -> None:
        self.files = {q.name: q for q in files}
        self.bodies = bodies
        self._scenes: dict[str, tuple[Scene, FrameImages | None]] = {}
        self._lock = threading.Lock()
        self.faces = np.ascontiguousarray(bodies.layer().faces.numpy(), dtype=np.uint32)

    def listing(self) -> dict:
        """The page's list to pick from."""
        return {"files": [{"name": n, "kind": file_kind(q)} for n, q in self.files.items()]}

    def scene(self, name: str) -> tuple[Scene, FrameImages | None]:
        """The scene of file ``name`` and its pictures (KeyError for a name not offered)."""
        with self._lock:
            if name not in self._scenes:
                scene = open_scene(self.files[name], self.bodies)
                self._scenes[name] = (scene, FrameImages(scene.source) if scene.source is not None else None)
            return self._scenes[name]


class _Handler(BaseHTTPRequestHandler):
    """GET / and static files, /files.json, and f/NAME/{meta.json, faces.bin, frame/K.bin, K.json, K.jpg}."""

    def __init__(self, *args: object, library: Library, **kwargs: object) -> None:
        self.library = library
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug("viewer: " + fmt, *args)

    def _send(self, body: bytes, ctype: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = urllib.parse.unquote(self.path.split("?")[0]).lstrip("/")
        if path.startswith("f/") and "/" in path[2:]:
            name, _, rest = path[2:].partition("/")
            return self._file(name, rest)
        path = path or "index.html"
        if path in _STATIC_FILES:
            return self._send((STATIC / path).read_bytes(), _STATIC_FILES[path])
        if path == "files.json":
            return self._send(json.dumps(self.library.listing()).encode(), "application/json")
        self.send_error(HTTPStatus.NOT_FOUND)

    def _file(self, name: str, rest: str) -> None:
        if name not in self.library.files:
            return self.send_error(HTTPStatus.NOT_FOUND)
        try:
            scene, images = self.library.scene(name)
            if rest == "meta.json":
                return self._send(json.dumps(scene.meta()).encode(), "application/json")
            if rest == "faces.bin":
                return self._send(self.library.faces.tobytes(), "application/octet-stream")
            if rest.startswith("frame/"):
                stem, _, ext = rest[len("frame/"):].partition(".")
                k = int(stem)
                if 0 <= k < len(scene.frames):
                    if ext == "bin":
                        return self._send(scene.vertices(k).tobytes(), "application/octet-stream")
                    if ext == "json":
                        return self._send(json.dumps({"joints_2d": scene.keypoints(k)}).encode(), "application/json")
                    if ext == "jpg" and images is not None and (img := images.get(scene.frames[k].index)) is not None:
                        return self._send(img, "image/jpeg")
        except (ValueError, OSError) as exc:  # the package's file errors are ValueError / OSError subclasses
            log.warning("viewer: %s: %s", self.path, exc)
            return self._send(json.dumps({"error": str(exc)}).encode(), "application/json", HTTPStatus.UNPROCESSABLE_ENTITY)
        self.send_error(HTTPStatus.NOT_FOUND)


def make_server(results: str | Path, *, port: int = 8080, host: str = "127.0.0.1",
                body_models: str | Path | None = None) -> ThreadingHTTPServer:
    """A server for the viewer page of ``results`` (a file, or an output folder to pick from); not yet serving."""
    files = find_inputs(results)
    library = Library(files, Bodies(_body_folder(files, body_models)))
    if len(files) == 1:
        library.scene(files[0].name)  # a single file: read (and check) it before serving
    try:
        server = ThreadingHTTPServer((host, port), partial(_Handler, library=library))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ViewerError(f"port {port} on {host} is already in use: choose another with --port N "
                              "(--port 0 picks a free one)") from None
        raise
    server.daemon_threads = True
    server.library = library  # type: ignore[attr-defined]
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    """The page's address."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
