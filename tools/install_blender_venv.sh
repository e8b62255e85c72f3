#!/usr/bin/env bash
# Set up a separate virtual environment with Blender as a Python module (bpy), for the opt-in
# `blender` test group (tests/test_export_blender.py) and for FBX export.
# bpy wheels are built for one Python minor version: bpy 4.2 LTS needs CPython 3.11.
# Usage: tools/install_blender_venv.sh [VENV_DIR]   (default ./.bpyvenv)
# Then:  export SMPLESTX_BPY_PYTHON=VENV_DIR/bin/python
set -euo pipefail
venv="${1:-.bpyvenv}"
py="${PYTHON311:-$(command -v python3.11 || true)}"
if [[ -z "$py" ]]; then
  echo "install_blender_venv: python3.11 not found (bpy 4.2 wheels need CPython 3.11); set PYTHON311=/path/to/python3.11" >&2
  exit 2
fi
start=$(date +%s)
"$py" -m venv "$venv"
# numpy<2: bpy 4.2 is built against the numpy 1.x ABI.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "bpy==4.2.*" "numpy<2"
"$venv/bin/python" -c "import bpy; print('bpy', bpy.app.version_string)"
echo "install_blender_venv: done in $(( $(date +%s) - start )) s; export SMPLESTX_BPY_PYTHON=$venv/bin/python"
