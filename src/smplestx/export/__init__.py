"""Animation files of tracked people: skinned glTF 2.0, BVH, AMASS-style npz (SMPL-X Blender add-on), FBX via bpy.

Entry point: :func:`export_animation`. See ``docs/animation-export.md``.
"""

from .amass import CAMERA_TO_AMASS, amass_arrays, write_amass
from .bvh import BVH, read_bvh, write_bvh
from .exporter import FORMATS, ExportReport, export_animation, parse_formats
from .fbx import find_bpy_python, glb_to_fbx
from .gltf import read_gltf_joints, skinning_error, top_influences, write_gltf_animation
from .inputs import load_animation_input, trackset_from_results
from .skeleton import JOINT_NAMES, Skeleton, build_skeleton, densify

__all__ = [
    "BVH",
    "CAMERA_TO_AMASS",
    "FORMATS",
    "JOINT_NAMES",
    "ExportReport",
    "Skeleton",
    "amass_arrays",
    "build_skeleton",
    "densify",
    "export_animation",
    "find_bpy_python",
    "glb_to_fbx",
    "load_animation_input",
    "parse_formats",
    "read_bvh",
    "read_gltf_joints",
    "skinning_error",
    "top_influences",
    "trackset_from_results",
    "write_amass",
    "write_bvh",
    "write_gltf_animation",
]
