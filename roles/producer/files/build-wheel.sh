#!/usr/bin/env bash
# build-wheel.sh SOURCE_DIR OUT_DIR WHEEL_NAME
# Builds a rastro Python package's wheel (producer, pipeline-exporter) reproducibly (fixed SOURCE_DATE_EPOCH, no network) and replaces
# OUT_DIR/WHEEL_NAME only when the bytes differ. Prints "built" or "unchanged".
# Skips the build (prints "unchanged") when the sources hash as they did for the wheel in OUT_DIR.
set -euo pipefail
src=$1 out=$2 wheel=$3
stamp="$out/$wheel.source-sha256"
digest=$(cd "$src" && find . \( -name __pycache__ -o -name "*.egg-info" -o -name dist -o -name build \) -prune \
  -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ -f "$out/$wheel" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
  echo unchanged
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/." "$tmp/"
rm -rf "$tmp/dist" "$tmp/build"
find "$tmp" \( -name __pycache__ -o -name "*.egg-info" \) -prune -exec rm -rf {} +
SOURCE_DATE_EPOCH=315532800 /usr/bin/python3 -m pip wheel --quiet --no-deps --no-build-isolation --no-index \
  -w "$tmp/dist" "$tmp" >&2
mkdir -p "$out"
if cmp -s "$tmp/dist/$wheel" "$out/$wheel"; then
  echo unchanged
else
  cp "$tmp/dist/$wheel" "$out/$wheel.tmp" && mv "$out/$wheel.tmp" "$out/$wheel"
  echo built
fi
echo "$digest" > "$stamp"
