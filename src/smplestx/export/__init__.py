"""Animation files of tracked people: skinned glTF 2.0, BVH, AMASS-style npz (SMPL-X Blender add-on), FBX via bpy,
Meshcapade ``.smpl`` / ``.mcs`` via smplcodec; and readers of ``.smpl``, ``.mcs`` and AMASS SMPL-X files.

Entry points: :func:`export_animation`, :func:`read_motion_file`. See ``docs/animation-export.md``.
"""

from .amass import CAMERA_TO_AMASS, amass_arrays, write_amass
from .bvh import BVH, read_bvh, write_bvh
from .exporter import FORMATS, ExportReport, export_animation, parse_formats
from .fbx import find_bpy_python, glb_to_fbx
from .gltf import read_gltf_joints, skinning_error, top_influences, write_gltf_animation
from .inputs import load_animation_input, trackset_from_results
from .meshcapade import write_mcs, write_smpl
from .readers import MotionFileError, is_motion_file, read_motion_file
from .skeleton import JOINT_NAMES, Skeleton, build_skeleton, densify

__all__ = [
    "BVH",
    "CAMERA_TO_AMASS",
    "FORMATS",
    "JOINT_NAMES",
    "MotionFileError",
    "ExportReport",
    "Skeleton",
    "amass_arrays",
    "build_skeleton",
    "densify",
    "export_animation",
    "find_bpy_python",
    "glb_to_fbx",
    "is_motion_file",
    "load_animation_input",
    "parse_formats",
    "read_bvh",
    "read_gltf_joints",
    "read_motion_file",
    "skinning_error",
    "top_influences",
    "trackset_from_results",
    "write_amass",
    "write_bvh",
    "write_gltf_animation",
    "write_mcs",
    "write_smpl",
]
