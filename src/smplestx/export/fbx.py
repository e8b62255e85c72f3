"""FBX through Blender: our .glb converted headlessly by Blender's Python module (``bpy``) in a subprocess."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..io.atomic import atomic_path as _atomic_path

log = logging.getLogger(__name__)

#: Environment variable naming a Python interpreter that can ``import bpy``.
BPY_PYTHON_ENV = "SMPLESTX_BPY_PYTHON"
HOW_TO_GET_BPY = (
    "FBX export needs Blender's Python module (bpy): run tools/install_blender_venv.sh (a separate Python 3.11 "
    f"venv with bpy 4.2 LTS) and set {BPY_PYTHON_ENV}=/that/venv/bin/python"
)
_SCRIPT = Path(__file__).with_name("blender_glb_to_fbx.py")


def find_bpy_python() -> str | None:
    """A Python interpreter that can import bpy: ``$SMPLESTX_BPY_PYTHON``, else this one if it has bpy, else None."""
    env = os.environ.get(BPY_PYTHON_ENV)
    if env:
        return env if (Path(env).is_file() or shutil.which(env)) else None
    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    return None


def glb_to_fbx(glb: str | os.PathLike[str], fbx: str | os.PathLike[str], python: str | None = None,
               timeout_s: float = 600.0) -> Path:
    """Convert a .glb to .fbx with Blender (subprocess); atomic. Raises RuntimeError when Blender fails."""
    python = python or find_bpy_python()
    if python is None:
        raise RuntimeError(HOW_TO_GET_BPY)
    fbx = Path(fbx)
    # The temporary keeps the .fbx suffix: Blender's exporter wants it.
    with _atomic_path(fbx, keep_suffix=True) as tmp:
        proc = subprocess.run([python, str(_SCRIPT), str(glb), str(tmp)], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"Blender could not convert {glb} to FBX: {' | '.join(tail)}")
    log.info("wrote %s", fbx)
    return fbx
