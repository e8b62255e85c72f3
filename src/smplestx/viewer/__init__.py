"""``smplestx view``: a local web page showing results, track and animation files in 3D over the images.

:mod:`.scenes` reads a file into what the page shows (the scene camera, the timeline, the people's overlay
colours, meshes posed on request); :mod:`.images` decodes the pictures on request; :mod:`.server` serves the
page (``static/``, three.js vendored, MIT) on 127.0.0.1 with Python's ``http.server``: no extra dependency.
"""

from .scenes import Bodies, Scene, ViewerError, file_kind, open_scene
from .server import find_inputs, find_results_file, make_server, url_of

__all__ = ["Bodies", "Scene", "ViewerError", "file_kind", "find_inputs", "find_results_file", "make_server",
           "open_scene", "url_of"]
