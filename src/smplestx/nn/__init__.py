"""Neural networks of SMPLest-X: ViT encoder, decoder head, rotation maps."""

from .decoder import DecoderHead, DecoderOutput
from .network import NetworkOutput, SMPLestXNet
from .rotations import axis_angle_to_rotmat, rot6d_to_axis_angle, rot6d_to_rotmat, rotmat_to_axis_angle
from .vit import ViTEncoder

__all__ = [
    "DecoderHead",
    "DecoderOutput",
    "NetworkOutput",
    "SMPLestXNet",
    "ViTEncoder",
    "axis_angle_to_rotmat",
    "rot6d_to_axis_angle",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
]
