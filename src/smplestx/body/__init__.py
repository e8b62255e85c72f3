"""SMPL-X body model layer, model-file readers, joint sets and evaluation assets (no dependency on ``smplx``)."""

from .assets import hand_regressors, load_face_vertex_ids, load_hand_vertex_ids, load_j14_regressor
from .joint_sets import SMPLX_65, SMPLX_137, SMPLX_144_NAMES, SMPLX_ORIG_53, JointSet
from .layer import SMPLX_PARAM_NAMES, SMPLX_POSE_PARTS, SMPLX_VERTEX_JOINT_IDS, BodyModel, BodyOutput
from .model_files import (
    BodyModelFileError,
    UnsafePickleError,
    load_smplx_arrays,
    read_array_pickle,
    resolve_model_dir,
)
from .smpl import SMPLModel, SMPLOutput, find_smpl_file, load_smpl_arrays

__all__ = [
    "BodyModel",
    "SMPLModel",
    "SMPLOutput",
    "find_smpl_file",
    "load_smpl_arrays",
    "BodyOutput",
    "BodyModelFileError",
    "UnsafePickleError",
    "JointSet",
    "SMPLX_ORIG_53",
    "SMPLX_137",
    "SMPLX_65",
    "SMPLX_144_NAMES",
    "SMPLX_PARAM_NAMES",
    "SMPLX_POSE_PARTS",
    "SMPLX_VERTEX_JOINT_IDS",
    "hand_regressors",
    "load_face_vertex_ids",
    "load_hand_vertex_ids",
    "load_j14_regressor",
    "load_smplx_arrays",
    "read_array_pickle",
    "resolve_model_dir",
]
