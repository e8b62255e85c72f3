"""`smplestx export-onnx`: the network as ONNX, checked against torch."""

from __future__ import annotations

import argparse

from .common import _number


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from ..models.checkpoint import load_network
    from ..models.onnx_export import VERTEX_TOLERANCE_M, OnnxError, export_onnx, verify_onnx
    from ..user_config import body_models_setting, find_body_models

    if body_models_setting(args.body_models)[0] is not None:  # the vertex check runs wherever body models are set
        args.body_models = find_body_models(args.body_models)
    net = load_network(args.model, args.config)
    out = export_onnx(net, args.output, opset=args.opset)
    worst, vertex_err = verify_onnx(net, out, args.body_models)
    line = f"{out}: {out.stat().st_size / 1e6:.1f} MB, dynamic batch; max parameter difference vs torch {worst:.2e}"
    if vertex_err is not None:
        line += f"; max vertex difference {vertex_err * 1000:.4f} mm"
        if vertex_err > VERTEX_TOLERANCE_M:
            print(line)
            raise OnnxError(f"{out}: ONNX vertices differ from torch by {vertex_err:.2e} m (> {VERTEX_TOLERANCE_M:g} m); "
                            "do not use it")
    print(line)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("export-onnx", help="write the network as ONNX (crops -> SMPL-X parameters, dynamic batch)")
    p.add_argument("model", help="official .pth.tar or converted .safetensors")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--config", help="official config_base.py (read as data)")
    p.add_argument("--body-models", help="also check the vertices against torch with this SMPL-X folder (<= 1e-4 m); "
                   "default: $SMPLESTX_BODY_MODELS or the user config file, else no check")
    p.add_argument("--opset", type=_number(int, 17, 30), default=18, help="ONNX opset (default 18)")
    p.set_defaults(func=_cmd_export_onnx)
