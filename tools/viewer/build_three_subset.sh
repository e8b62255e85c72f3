#!/usr/bin/env bash
# Rebuilds src/smplestx/viewer/static/three-subset.min.js: the parts of three.js (MIT, vendored with its
# licence as THREE_LICENSE.txt) that the viewer imports, plus GLTFLoader and AnimationMixer for the playback test, tree-shaken and minified by esbuild.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
echo '{"name":"three-subset","version":"1.0.0","private":true}' > package.json
npm install --no-audit --no-fund three@0.187.0 esbuild@0.28.2 >/dev/null
cp "$here/three-subset.entry.js" entry.js
./node_modules/.bin/esbuild entry.js --bundle --minify --format=esm --legal-comments=inline \
  --outfile="$here/../../src/smplestx/viewer/static/three-subset.min.js"
cp node_modules/three/LICENSE "$here/../../src/smplestx/viewer/static/THREE_LICENSE.txt"
