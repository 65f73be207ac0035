#!/usr/bin/env bash
# Idempotent setup for Verity Desk on Debian 12: apt packages, the project-local Python venv
# (which provides libtorch for tch), npm packages for the UI, and test tools.
# Usage: scripts/setup.sh [run|test]   — "test" adds the test-only tools.
# Each step leaves a stamp in .setup/ keyed by the hash of its inputs, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}
ROOT=$PWD
STAMPS=$ROOT/.setup
mkdir -p "$STAMPS"
VENV=${VERITY_VENV:-$ROOT/.venv}

t0=$(date +%s)
phase() { echo "==> [setup] $*"; }
elapsed() { echo "    ($(( $(date +%s) - $1 )) s)"; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. Debian packages ---------------------------------------------------------------------------
APT_RUN="libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev libssl-dev
 ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev
 libswresample-dev clang libclang-dev pkg-config"
APT_TEST="xvfb xauth imagemagick webkit2gtk-driver chromium poppler-utils postgresql openssl"
want="$APT_RUN"
[ "$MODE" = test ] && want="$want $APT_TEST"
key=$(echo $want | sha256sum | cut -c1-16)
if ! stamp_ok apt "$key"; then
  s=$(date +%s)
  missing=$(for p in $want; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
  if [ -n "$missing" ]; then
    phase "apt-get install:" $missing
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  echo "$key" > "$STAMPS/apt"; elapsed $s
fi

# 2. Python venv with the pinned torch wheel (libtorch for tch) --------------------------------
key=$(cat python/requirements.txt python/constraints.txt | sha256sum | cut -c1-16)
if ! stamp_ok venv "$key" || [ ! -x "$VENV/bin/python" ]; then
  s=$(date +%s); phase "python venv at $VENV (torch 2.11.0 wheel ≈ 4.6 GB on first run)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -c python/constraints.txt -r python/requirements.txt
  # facenet-pytorch's metadata pins an old torch; its code works with 2.11 (reference for MTCNN parity).
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps facenet-pytorch==2.6.0
  "$VENV/bin/python" -c 'import torch; assert torch.__version__.startswith("2.11.0"), torch.__version__'
  echo "$key" > "$STAMPS/venv"; elapsed $s
fi

# 3. UI packages -------------------------------------------------------------------------------
if [ -f ui/package-lock.json ]; then
  key=$(sha256sum ui/package-lock.json | cut -c1-16)
  if ! stamp_ok npm "$key" || [ ! -d ui/node_modules ]; then
    s=$(date +%s); phase "npm ci (ui/)"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    echo "$key" > "$STAMPS/npm"; elapsed $s
  fi
fi

# 4. Test tools --------------------------------------------------------------------------------
if [ "$MODE" = test ]; then
  if [ ! -x "$STAMPS/tools/bin/tauri-driver" ]; then
    s=$(date +%s); phase "cargo install tauri-driver (WebDriver bridge for the end-to-end test)"
    cargo install tauri-driver --version 2.1.0 --locked --root "$STAMPS/tools" -q
    elapsed $s
  fi
  # webdriverio for the end-to-end test (tests/e2e/run.sh).
  key=$(sha256sum tests/e2e/package-lock.json | cut -c1-16)
  if ! stamp_ok npm-e2e "$key" || [ ! -d tests/e2e/node_modules ]; then
    s=$(date +%s); phase "npm ci (tests/e2e/)"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    echo "$key" > "$STAMPS/npm-e2e"; elapsed $s
  fi
fi
echo "==> [setup] done in $(( $(date +%s) - t0 )) s"
