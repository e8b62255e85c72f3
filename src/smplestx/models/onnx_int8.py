"""ONNX Runtime's dynamic int8 of an exported network: ``--backend onnxruntime --dtype int8`` (CPU).

``onnxruntime.quantization.quantize_dynamic`` turns the graph's MatMuls into MatMulInteger fed by
DynamicQuantizeLinear (weights int8 once, activations uint8 per tensor at run time), which ONNX Runtime runs
through its own AVX2 / AVX-512 / VNNI kernels. The quantised copy is made once per exported file and cached in
the user cache folder (``onnx_int8/``), keyed by the file's content. Without VNNI the weights are stored as uint8:
the AVX2 multiply-add (``vpmaddubsw``) saturates on uint8 x int8 products, which cost a random-weight S 1.3 rad
of body pose; with VNNI int8 weights are exact and faster.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UsageError

log = logging.getLogger(__name__)


def weight_type() -> str:
    """The weight type ONNX Runtime's int8 uses on this CPU: "int8" with VNNI, "uint8" without (no saturation)."""
    from .loading import cpu_has_vnni

    return "int8" if cpu_has_vnni() else "uint8"


def quantized_onnx(path: str | Path) -> Path:
    """The int8 copy of the exported network at ``path`` (made once, cached by content); returns its path."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise UsageError("--dtype int8 with an .onnx network needs onnxruntime's quantisation tools: "
                         "pip install 'smplestx[onnx]'") from None
    from ..fingerprint import file_fingerprint
    from ..io.atomic import atomic_path
    from .onnx_export import CONFIG_KEY
    from ..user_config import cache_dir

    src = Path(path)
    kind = weight_type()
    out = cache_dir() / "onnx_int8" / f"{file_fingerprint(src)}-{kind}.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    log.warning("quantising %s to int8 for ONNX Runtime once (cached in %s)", src, out.parent)
    with atomic_path(out, keep_suffix=True) as tmp:
        quantize_dynamic(src, tmp, op_types_to_quantize=["MatMul"],
                         weight_type=QuantType.QInt8 if kind == "int8" else QuantType.QUInt8)
        proto = onnx.load(tmp)
        # The quantiser may drop the metadata OnnxNetwork reads the model config from: carry it over.
        if not any(p.key == CONFIG_KEY for p in proto.metadata_props):
            for p in onnx.load(src, load_external_data=False).metadata_props:
                proto.metadata_props.add(key=p.key, value=p.value)
            onnx.save_model(proto, tmp)
    return out
