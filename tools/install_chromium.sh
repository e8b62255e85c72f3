#!/usr/bin/env bash
# Installs headless Chromium for the tests marked `browser` (the 3D viewer); Debian/Ubuntu, run as root.
# Without it those tests skip with a reason. Usage: bash tools/install_chromium.sh && python -m pytest -m browser
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  echo "chromium already installed: $(command -v chromium || command -v chromium-browser)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
chromium --version
