"""Neural networks of SMPLest-X: ViT encoder, decoder head (rotations live in geometry/)."""

from .decoder import DecoderHead, DecoderOutput
from .network import NetworkOutput, SMPLestXNet
from .vit import ViTEncoder

__all__ = [
    "DecoderHead",
    "DecoderOutput",
    "NetworkOutput",
    "SMPLestXNet",
    "ViTEncoder",
]
