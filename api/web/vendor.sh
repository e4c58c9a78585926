#!/usr/bin/env bash
# vendor.sh: Leaflet from npm (the version api/web/package-lock.json pins) into
# rastro_dispatch/static/vendor/leaflet/, where the wheel picks it up. Runs on the controller
# (make api-assets, and roles/dispatch_api before it builds the wheel); prints "vendored" or "unchanged".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/../rastro_dispatch/static/vendor/leaflet
if [[ ! -f $here/node_modules/leaflet/dist/leaflet.js || $here/package-lock.json -nt $here/node_modules/.package-lock.json ]]; then
  echo "[api-assets] npm ci (leaflet, the OpenAPI schemas)" >&2
  npm ci --prefix "$here" --no-audit --no-fund --silent >&2
fi
src=$here/node_modules/leaflet/dist
if [[ -f $dest/leaflet.js ]] && cmp -s "$src/leaflet.js" "$dest/leaflet.js" && cmp -s "$src/leaflet.css" "$dest/leaflet.css"; then
  echo unchanged
  exit 0
fi
mkdir -p "$dest/images"
cp "$src/leaflet.js" "$src/leaflet.css" "$dest/"
cp "$src/images/"*.png "$dest/images/"
cp "$here/node_modules/leaflet/LICENSE" "$dest/LICENSE"
echo vendored
