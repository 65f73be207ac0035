#!/usr/bin/env bash
# `make package`: a .deb of the desktop app + the `verity` CLI + the lean libtorch runtime they
# need (the torch wheel's shared libraries without Python and without the CUDA kernels), built
# with the release profile by the Tauri bundler. Output: target/package/verity-desk_<ver>_amd64.deb
# and target/package/manifest.txt (what went in, sizes).
#
# The binaries link against the venv's libtorch at build time but carry an rpath of
# `$ORIGIN/../lib/verity-desk`, where the package puts its copy (VERITY_RPATH, read by build.rs).
# The shipped models (MTCNN weights, CLIP vocabulary) go to /usr/share/verity-desk/models, found
# beside the executable by `models::repo_models_dir`.
#
# Not built here: an AppImage (the Tauri bundler downloads linuxdeploy from GitHub, which this
# offline machine cannot reach) and a CUDA add-on (libtorch_cuda + NVIDIA runtime libraries,
# sizes in the manifest; see README "GPU").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/env.sh
OUT=target/package
STAGE=$OUT/stage
rm -rf "$STAGE" "$OUT"/*.deb
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/models"

echo "package: UI build" >&2
(cd ui && npm run build >&2)

export VERITY_RPATH='$ORIGIN/../lib/verity-desk'
echo "package: release build of the verity CLI" >&2
cargo build --release --bin verity >&2
strip -o "$STAGE/bin/verity" target/release/verity

# The lean runtime: every shared library the CLI resolves from the Python environment (libtorch
# CPU, c10, OpenMP, and the two small CUDA runtime stubs libtorch_cpu itself links).
SITE=$(dirname "$TORCH_LIB")/..
SITE=$(cd "$SITE" && pwd)
mapfile -t LIBS < <(LD_LIBRARY_PATH="$TORCH_LIB" ldd target/release/verity \
  | awk '/=> \//{print $3}' | grep -F "$SITE/" | sort -u)
[ "${#LIBS[@]}" -gt 0 ] || { echo "package: no libtorch library found for the CLI" >&2; exit 1; }
for l in "${LIBS[@]}"; do cp -L "$l" "$STAGE/lib/"; done

cp models/manifest.toml models/README.md "$STAGE/models/"
cp -r models/mtcnn models/clip "$STAGE/models/"

echo "package: release build of the app and the .deb (Tauri bundler)" >&2
ui/node_modules/.bin/tauri build --bundles deb --config "$ROOT/src-tauri/tauri.package.json" >&2
DEB=$(ls -t target/release/bundle/deb/*.deb | head -1)
VERSION=$(dpkg-deb -f "$DEB" Version)
cp "$DEB" "$OUT/verity-desk_${VERSION}_amd64.deb"
DEB=$OUT/verity-desk_${VERSION}_amd64.deb

# The app must resolve its libtorch from the same staged folder as the CLI.
missing=$(LD_LIBRARY_PATH="$STAGE/lib" ldd target/release/verity-desk | awk '/not found/{print $1}')
[ -z "$missing" ] || { echo "package: the app needs libraries not staged: $missing" >&2; exit 1; }

mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b/1048576}'; }
{
  echo "package: $(basename "$DEB")"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "deb size: $(mib "$(stat -c %s "$DEB")")"
  echo "installed size: $(dpkg-deb -f "$DEB" Installed-Size) KiB"
  echo "depends: $(dpkg-deb -f "$DEB" Depends)"
  echo "verity CLI (stripped): $(mib "$(stat -c %s "$STAGE/bin/verity")")"
  echo "libtorch runtime (CPU):"
  for l in "$STAGE"/lib/*; do echo "  $(basename "$l") $(mib "$(stat -c %s "$l")")"; done
  echo "  total $(mib "$(du -cb "$STAGE"/lib/* | tail -1 | cut -f1)")"
  cuda_bytes=$(du -cbL "$TORCH_LIB"/libtorch_cuda*.so "$TORCH_LIB"/libc10_cuda.so "$SITE"/nvidia 2>/dev/null | tail -1 | cut -f1)
  echo "CUDA add-on (not packaged: libtorch_cuda + libc10_cuda + the NVIDIA wheels' libraries): $(mib "$cuda_bytes")"
} | tee "$OUT/manifest.txt"
echo "$DEB"
