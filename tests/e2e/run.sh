#!/usr/bin/env bash
# End-to-end test of the real desktop app: starts the built binary under a virtual X display
# through tauri-driver (WebKitWebDriver) and drives it with webdriverio (tests/e2e/app.mjs).
# Builds nothing: expects the debug binary (cargo build --workspace) and `scripts/setup.sh test`.
# Screenshots land in target/e2e/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${VERITY_DESK_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/verity-desk}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
export PATH="$ROOT/.setup/tools/bin:$PATH"

fail() { echo "e2e: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "no app binary at $BIN — build it first: cargo build --workspace"
command -v tauri-driver >/dev/null || fail "tauri-driver missing — run: scripts/setup.sh test"
command -v WebKitWebDriver >/dev/null || fail "WebKitWebDriver missing — run: scripts/setup.sh test"
command -v xvfb-run >/dev/null || fail "xvfb-run missing — run: scripts/setup.sh test"
[ -d tests/e2e/node_modules/webdriverio ] || fail "webdriverio missing — run: scripts/setup.sh test"

# Free ports, so parallel runs on one machine do not collide on tauri-driver's default 4444.
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
export TAURI_DRIVER_PORT=${TAURI_DRIVER_PORT:-$(free_port)}
export TAURI_NATIVE_PORT=${TAURI_NATIVE_PORT:-$(free_port)}
export VERITY_DESK_BIN=$BIN
export VERITY_E2E_OUT=$ROOT/target/e2e
mkdir -p "$VERITY_E2E_OUT"
# A fresh data folder and settings file, so the run starts with no cases and touches nothing of
# the user's; the photo to import is written as a JPEG under a new name with a camera's EXIF
# block edited in software, GPS included (exif.mjs), for the Provenance panel.
E2E_TMP=$(mktemp -d)
trap 'rm -rf "$E2E_TMP"' EXIT
export VERITY_DATA_DIR=$E2E_TMP/data VERITY_CONFIG=$E2E_TMP/settings.toml
export VERITY_MODELS_DIR=$E2E_TMP/models
command -v ffmpeg >/dev/null || fail "ffmpeg missing — run: scripts/setup.sh"
ffmpeg -hide_banner -loglevel error -y -i tests/data/astronaut.png -q:v 3 "$E2E_TMP/plain.jpg"
node tests/e2e/exif.mjs "$E2E_TMP/plain.jpg" "$E2E_TMP/suspect-photo.jpg"
rm "$E2E_TMP/plain.jpg"
export VERITY_E2E_MEDIA=$E2E_TMP/suspect-photo.jpg
# A 3 s MJPEG AVI (a CCTV-style file WebKitGTK cannot play) panning over the face, for the player.
ffmpeg -hide_banner -loglevel error -y -loop 1 -i tests/data/astronaut.png -t 3 -r 25 \
  -vf "scale=640:640,crop=400:400:'60+t*40':'30+t*25',scale=320:320,setsar=1" \
  -c:v mjpeg -q:v 3 -pix_fmt yuvj420p "$E2E_TMP/cctv-cam2.avi"
export VERITY_E2E_VIDEO=$E2E_TMP/cctv-cam2.avi
# An UNTRAINED random-weight profile (the app labels its scores as such): gives the video case
# real frame scores to plot without shipping trained weights. Selected by name later in the run.
CLI=$(dirname "$BIN")/verity
[ -x "$CLI" ] || fail "no CLI binary at $CLI — build it first: cargo build --workspace"
"$CLI" models random --preset tiny --out "$VERITY_MODELS_DIR/profiles/e2e-untrained" >/dev/null
export VERITY_E2E_PROFILE=e2e-untrained
# Eight distinct photos of one face (flips, scales, tints): the retrain check decides four FAKE
# and four REAL in the app, the fewest a retrain accepts.
mkdir -p "$E2E_TMP/train"
i=0
for vf in hflip scale=448:-1 scale=400:-1,hflip eq=brightness=0.06 eq=contrast=1.2 hue=h=12 eq=saturation=0.6,hflip crop=480:480:16:16; do
  ffmpeg -loglevel error -y -i tests/data/astronaut.png -vf "$vf" "$E2E_TMP/train/photo-$i.png"
  i=$((i + 1))
done
export VERITY_E2E_TRAIN=$E2E_TMP/train
# Native dialogs and OS drag-and-drop cannot be driven by WebDriver: the app is told at launch
# that the page may import from this run's folder (and nowhere else — checked by the run).
export VERITY_DESK_IMPORT_ROOTS=$E2E_TMP

echo "==> e2e: $BIN (tauri-driver on :$TAURI_DRIVER_PORT)"
# 1366x768 is the window's default size, so the root-window screenshot is the app alone.
xvfb-run -a -s "-screen 0 1366x768x24" bash -c '
  tauri-driver --port "$TAURI_DRIVER_PORT" --native-port "$TAURI_NATIVE_PORT" \
    >"$VERITY_E2E_OUT/tauri-driver.log" 2>&1 &
  driver=$!
  trap "kill $driver 2>/dev/null || true" EXIT
  node tests/e2e/app.mjs
'
