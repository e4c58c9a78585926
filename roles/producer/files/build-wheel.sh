#!/usr/bin/env bash
# build-wheel.sh SOURCE_DIR OUT_DIR WHEEL_NAME
# Builds a rastro Python package's wheel (producer, pipeline-exporter) reproducibly (fixed SOURCE_DATE_EPOCH, no network) and replaces
# OUT_DIR/WHEEL_NAME only when the bytes differ. Prints "built" or "unchanged".
set -euo pipefail
src=$1 out=$2 wheel=$3
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
