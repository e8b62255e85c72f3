"""`smplestx view`: a results, track or animation file in a local 3D web viewer."""

from __future__ import annotations

import argparse
import sys



def _cmd_view(args: argparse.Namespace) -> int:
    import webbrowser

    from ..viewer import make_server, url_of

    server = make_server(args.output, port=args.port, host=args.host, body_models=args.body_models)
    url = url_of(server)
    print(f"smplestx view: {url}  (Ctrl-C to stop)", file=sys.stderr)
    if not args.no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("view", help="open a results, track or animation file (or an output folder) in a local 3D "
                                    "web viewer")
    p.add_argument("output", help="a results .npz/.json, a NAME.tracks.npz, an .amass.npz or .glb of export, a .smpl or "
                                  ".mcs, or a folder of them (the page lists them)")
    p.add_argument("--port", type=int, default=8080, help="local port (default 8080; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--body-models", help="SMPL-X folder: the mesh faces, and the meshes when the file holds none "
                                         "(default: $SMPLESTX_BODY_MODELS, then body_models in the config file)")
    p.add_argument("--no-browser", action="store_true", help="only print the address")
    p.set_defaults(func=_cmd_view)
