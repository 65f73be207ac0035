#!/usr/bin/env bash
# Renders the app icons from logo.svg with the Tauri CLI (resvg), keeping only the files
# tauri.conf.json lists: 32x32.png, 128x128.png, 128x128@2x.png, icon.png (512), icon.ico, icon.icns.
# Needs ui/node_modules (npm ci in ui/). Run from anywhere: icons/render.sh
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
../ui/node_modules/.bin/tauri icon logo.svg -o "$tmp" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
cp "$tmp"/{32x32.png,128x128.png,128x128@2x.png,icon.png,icon.ico,icon.icns} .
echo "icons written to $PWD"
