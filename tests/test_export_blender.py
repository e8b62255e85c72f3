"""A real client opens our files: Blender (bpy, in its own venv, as a subprocess) imports the .glb and .bvh.

Opt-in: set SMPLESTX_BPY_PYTHON to a Python that can ``import bpy`` (tools/install_blender_venv.sh makes one).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from smplestx.export import JOINT_NAMES, export_animation, read_bvh, read_gltf_joints
from smplestx.export.fbx import find_bpy_python

from test_animation_export import make_track, trackset
from test_meshcapade import flat_body_joints, short_avatar, smpl_as_poses

pytestmark = pytest.mark.blender
READBACK = Path(__file__).with_name("blender_readback.py")
TOL_M = 1e-3  # 1 mm


@pytest.fixture(scope="module")
def bpy_python() -> str:
    python = find_bpy_python()
    if python is None:
        pytest.skip("Blender's bpy not found: run tools/install_blender_venv.sh and set "
                    "SMPLESTX_BPY_PYTHON=/path/to/that/venv/bin/python")
    return python


@pytest.fixture(scope="module")
def files(bpy_python: str, tmp_path_factory, synthetic_body: Path):
    out = tmp_path_factory.mktemp("blender")
    ts = trackset(make_track(2, [0, 1, 2, 3, 5, 8], seed=21), fps=30.0)
    return export_animation(ts, "glb,bvh,fbx", synthetic_body, out, stem="b").files[2]


def blender_joints(python: str, kind: str, path: Path, n: int) -> tuple[list[str], np.ndarray]:
    """Joint positions (n, J, 3) of the armature Blender imported, mapped back to y up (Blender is z up)."""
    proc = subprocess.run([python, str(READBACK), kind, str(path), "30", str(n)], capture_output=True, text=True,
                          timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("READBACK ")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    d = json.loads(lines[0][len("READBACK "):])
    b = np.asarray(d["frames"])
    # Both importers turn y-up files into Blender's z up: (x, y, z) -> (x, -z, y); undo it.
    return d["names"], np.stack([b[..., 0], b[..., 2], -b[..., 1]], axis=-1)


def test_blender_imports_our_glb_with_the_same_joints(files, bpy_python: str) -> None:
    names, ours = read_gltf_joints(files["glb"])
    theirs_names, theirs = blender_joints(bpy_python, "glb", files["glb"], len(ours))
    theirs = theirs[:, [theirs_names.index(n) for n in names]]
    assert ours.shape == theirs.shape == (9, 55, 3)
    assert np.abs(theirs - ours).max() < TOL_M


def test_blender_imports_our_bvh_with_the_same_joints(files, bpy_python: str) -> None:
    bvh = read_bvh(files["bvh"])
    ours = bvh.world_positions() / 100.0
    theirs_names, theirs = blender_joints(bpy_python, "bvh", files["bvh"], len(ours))
    theirs = theirs[:, [theirs_names.index(n) for n in bvh.names]]
    assert np.abs(theirs - ours).max() < TOL_M
    # The two files agree with each other too (the jaw's expression-driven offset rides in position channels).
    glb_names, glb = read_gltf_joints(files["glb"])
    assert np.abs(ours[:, [bvh.names.index(n) for n in glb_names]] - glb).max() < TOL_M


def test_fbx_was_written_by_blender(files) -> None:
    assert files["fbx"].read_bytes()[:18] == b"Kaydara FBX Binary"


def test_blender_shows_an_imported_smpl_with_the_body_models_joints(bpy_python: str, tmp_path: Path,
                                                                   synthetic_body: Path) -> None:
    """Meshcapade's avatar.smpl imported, exported as .glb, opened in Blender: the smplx layer's joints (y up)."""
    src = short_avatar(tmp_path / "avatar.smpl", step=60)
    glb = export_animation(src, "glb", synthetic_body, tmp_path / "out").files[0]["glb"]
    expected = flat_body_joints(synthetic_body, smpl_as_poses(src))
    names, theirs = blender_joints(bpy_python, "glb", glb, len(expected))
    theirs = theirs[:, [names.index(n) for n in JOINT_NAMES]]
    assert theirs.shape == expected.shape == (11, 55, 3)
    assert np.abs(theirs - expected).max() < TOL_M
