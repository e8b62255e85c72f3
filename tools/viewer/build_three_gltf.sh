#!/usr/bin/env bash
# Rebuilds tests/data/three/three-gltf.min.js: three.js's GLTFLoader and AnimationMixer (MIT, the same three.js
# version as the viewer's subset; licence in tests/data/three/THREE_LICENSE.txt), bundled and minified by esbuild.
# Only the browser test that plays our .glb loads it, so it stays out of the package.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
echo '{"name":"three-gltf","version":"1.0.0","private":true}' > package.json
npm install --no-audit --no-fund three@0.187.0 esbuild@0.28.2 >/dev/null
cp "$here/three-gltf.entry.js" entry.js
./node_modules/.bin/esbuild entry.js --bundle --minify --format=esm --legal-comments=inline \
  --outfile="$here/../../tests/data/three/three-gltf.min.js"
cp node_modules/three/LICENSE "$here/../../tests/data/three/THREE_LICENSE.txt"
