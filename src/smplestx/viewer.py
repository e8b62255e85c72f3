"""``smplestx view``: a local web page showing a results file's meshes in 3D over the image.

A small self-contained page (``viewer_static/``; three.js vendored, MIT) served by Python's
``http.server`` on 127.0.0.1: no extra dependency. The scene is the results file's camera: every
person is mapped into one pinhole camera (image-centre principal point, the first person's focal),
keeping each vertex's image projection exact, so the meshes sit on the image as in the overlay.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from .io.results import Results, load_results

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "viewer_static"
_STATIC_FILES = {"index.html": "text/html", "viewer.js": "text/javascript",
                 "three-subset.min.js": "text/javascript", "THREE_LICENSE.txt": "text/plain"}


class ViewerError(OSError):
    """A results folder, body model or port the viewer cannot use; the message says what to do."""


def find_results_file(path: str | Path) -> Path:
    """The results file to show: ``path`` itself, or the one results ``.npz`` / ``.json`` in a folder."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if not p.is_dir():
        raise ViewerError(f"{p}: no such results file or output folder")
    found = sorted(q for q in p.iterdir() if q.suffix == ".npz") or sorted(
        q for q in p.iterdir() if q.suffix == ".json" and q.name != "summary.json")
    if not found:
        raise ViewerError(f"{p}: no results file (.npz) in this folder; run `smplestx infer ... --save-vertices` first")
    if len(found) > 1:
        raise ViewerError(f"{p} holds {len(found)} results files ({', '.join(q.name for q in found[:5])}); "
                          "give one of them: smplestx view FILE")
    return found[0]


def _faces(results_file: Path, body_models: str | Path | None) -> np.ndarray:
    """Mesh faces from the body model the results were made with (demo layout, argument, or settings)."""
    from .body.model_files import load_smplx_arrays
    from .user_config import find_body_models

    demo_body = results_file.parent.parent / "body_models"
    if body_models is None and (demo_body / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        body_models = demo_body  # `smplestx demo` output: the synthetic body next to the results
    folder = find_body_models(body_models)
    return np.ascontiguousarray(load_smplx_arrays(folder)["f"], dtype=np.uint32)


class SceneData:
    """What the page asks for, computed from a results file: metadata, faces, vertices and images per frame."""

    def __init__(self, results_file: Path, faces: np.ndarray) -> None:
        self.file = results_file
        self.res: Results = load_results(results_file)
        verts = self.res.arrays.get("vertices")
        if verts is None:
            raise ViewerError(f"{results_file}: the results hold no vertices; rerun infer with --save-vertices")
        self.faces = faces
        w, h = self.res.image_size
        focal = self.res.arrays["focal"]
        self.focal = (np.asarray(focal[0], np.float64) if len(focal) else np.array([5000.0, 5000.0]))
        self.princpt = np.array([w / 2.0, h / 2.0])
        self._images: dict[int, bytes] | None = None
        self._lock = threading.Lock()
        z = verts[..., 2] * (self.focal.mean() / focal.mean(axis=1))[:, None] if len(verts) else np.ones(1)
        self.image_depth = float(np.percentile(z, 99) * 1.3) if len(verts) else 5.0

    def vertices(self, k: int) -> np.ndarray:
        """Frame k's people, (P, V, 3) float32, mapped into the shared camera (projections unchanged)."""
        people = self.res.frames[k].people
        if not people:
            return np.zeros((0, 0, 3), np.float32)
        v = np.stack([p.vertices for p in people]).astype(np.float64)
        f = np.stack([p.focal for p in people]).astype(np.float64)[:, None, :]
        c = np.stack([p.princpt for p in people]).astype(np.float64)[:, None, :]
        z = np.maximum(v[..., 2:3], 1e-6)
        uv = f * v[..., :2] / z + c
        # Depth scales with the focal ratio (a person keeps its image size); x, y follow from the projection.
        z_new = z * (self.focal.mean() / f.mean(axis=-1, keepdims=True))
        xy = (uv - self.princpt) * z_new / self.focal
        return np.concatenate([xy, z_new], axis=-1).astype(np.float32)

    def meta(self) -> dict:
        """Everything the page needs before the first frame."""
        frames = []
        for fr in self.res.frames:
            frames.append({"index": fr.index, "time_s": round(float(fr.time_s), 4), "people": [
                {"track_id": int(p.track_id), "joints_2d": np.round(p.joints_2d.astype(np.float64), 1).tolist()} for p in fr.people]})
        return {"file": self.file.name, "image_size": list(self.res.image_size), "focal": self.focal.tolist(),
                "princpt": self.princpt.tolist(), "image_depth": self.image_depth, "fps": self.res.meta.get("fps") or 10,
                "num_vertices": int(self.res.arrays["vertices"].shape[1]), "frames": frames,
                "has_images": self._source() is not None}

    def _source(self) -> Path | None:
        src = self.res.meta.get("source")
        if not src:
            return None
        for cand in (Path(src), self.file.parent / Path(src).name, self.file.parent.parent / Path(src).name):
            if cand.is_file():
                return cand
        return None

    def image(self, k: int) -> bytes | None:
        """Frame k's picture as JPEG (decoded once for the whole file, on first request)."""
        with self._lock:
            if self._images is None:
                self._images = self._decode_all()
        return self._images.get(k)

    def _decode_all(self) -> dict[int, bytes]:
        import cv2

        from .pipeline.sources import open_source

        src = self._source()
        if src is None:
            return {}
        wanted = {fr.index: k for k, fr in enumerate(self.res.frames)}
        out: dict[int, bytes] = {}
        with open_source(src) as frames:
            for frame in frames:
                if frame.index in wanted:
                    ok, buf = cv2.imencode(".jpg", frame.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
                    if ok:
                        out[wanted[frame.index]] = buf.tobytes()
                if frame.index >= max(wanted, default=-1):
                    break
        return out


class _Handler(BaseHTTPRequestHandler):
    """GET / and static files, /meta.json, /faces.bin, /frame/K.bin (vertices), /frame/K.jpg (image)."""

    def __init__(self, *args: object, scene: SceneData, **kwargs: object) -> None:
        self.scene = scene
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug("viewer: " + fmt, *args)

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?")[0].lstrip("/") or "index.html"
        try:
            if path in _STATIC_FILES:
                return self._send((STATIC / path).read_bytes(), _STATIC_FILES[path])
            if path == "meta.json":
                return self._send(json.dumps(self.scene.meta()).encode(), "application/json")
            if path == "faces.bin":
                return self._send(self.scene.faces.tobytes(), "application/octet-stream")
            if path.startswith("frame/"):
                stem, _, ext = path[len("frame/"):].partition(".")
                k = int(stem)
                if 0 <= k < len(self.scene.res.frames):
                    if ext == "bin":
                        return self._send(self.scene.vertices(k).tobytes(), "application/octet-stream")
                    if ext == "jpg" and (img := self.scene.image(k)) is not None:
                        return self._send(img, "image/jpeg")
        except (ValueError, OSError) as exc:
            log.warning("viewer: %s: %s", self.path, exc)
        self.send_error(HTTPStatus.NOT_FOUND)


def make_server(results: str | Path, *, port: int = 8080, host: str = "127.0.0.1",
                body_models: str | Path | None = None) -> ThreadingHTTPServer:
    """A server for the viewer page of ``results`` (a results file or an output folder); not yet serving."""
    file = find_results_file(results)
    scene = SceneData(file, _faces(file, body_models))
    try:
        server = ThreadingHTTPServer((host, port), partial(_Handler, scene=scene))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ViewerError(f"port {port} on {host} is already in use: choose another with --port N "
                              "(--port 0 picks a free one)") from None
        raise
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    """The page's address."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
