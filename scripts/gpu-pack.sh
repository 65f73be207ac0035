#!/usr/bin/env bash
# Prepares what a GPU run of scripts/gpu-check.sh carries, in target/gpu-carry/ (≤ 64 MiB):
#   bin/verity       the CLI, stripped (for `verity bench models|pipeline --device cuda`)
#   bin/cuda-tests   tests/cuda.rs built with `cargo test --test cuda --no-run`, stripped
#   lib/             FFmpeg's shared libraries and everything they pull in — only if they fit
#   manifest.txt     what was packed, sizes, commit, the glibc the binaries need, and why
#                    FFmpeg was or was not carried
# The GPU machine has Python with torch 2.11.0+cu130 (libtorch comes from there), but no Rust
# and no FFmpeg; nothing is built there. Run here, after building:
#   source scripts/env.sh && scripts/gpu-pack.sh        (builds the two binaries if needed)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUDGET_MIB=${GPU_CARRY_BUDGET_MIB:-64}
OUT=target/gpu-carry
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"

echo "gpu-pack: building verity and the CUDA test binary (no-op when up to date)…"
cargo build --bin verity >&2
# The test binary's path is printed by cargo: "Executable tests/cuda.rs (target/debug/deps/cuda-…)".
CUDA_TEST=$(cargo test --test cuda --no-run 2>&1 | sed -n 's/.*Executable tests\/cuda.rs (\(.*\))/\1/p' | tail -1)
[ -x "$CUDA_TEST" ] || { echo "gpu-pack: could not find the built tests/cuda.rs binary" >&2; exit 1; }

strip -o "$OUT/bin/verity" target/debug/verity
strip -o "$OUT/bin/cuda-tests" "$CUDA_TEST"

mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }
bytes() { du -cbL "$@" 2>/dev/null | tail -1 | cut -f1; }

# Libraries the binary needs beyond glibc/libstdc++ (assumed on any Linux) and libtorch/CUDA
# (the machine's pip torch provides them): FFmpeg and its whole dependency closure.
base_re='/(libc|libm|libdl|librt|libpthread|libutil|libresolv|libgcc_s|libstdc\+\+)\.so'
mapfile -t LIBS < <(ldd target/debug/verity | awk '/=> \//{print $3}' \
  | grep -Ev "$base_re" | grep -Ev '/torch/lib/|/nvidia/' | sort -u)
mapfile -t FF_DIRECT < <(ldd target/debug/verity | awk '/=> \//{print $3}' | grep -E '/lib(av|sw)[a-z]*\.so' | sort -u)
BIN_BYTES=$(bytes "$OUT/bin/verity" "$OUT/bin/cuda-tests")
FF_BYTES=$(bytes "${FF_DIRECT[@]}")
CLOSURE_BYTES=$(bytes "${LIBS[@]}")
BUDGET_BYTES=$((BUDGET_MIB * 1048576))
if [ $((BIN_BYTES + CLOSURE_BYTES)) -le "$BUDGET_BYTES" ]; then
  cp -L -t "$OUT/lib" "${LIBS[@]}"
  FFMPEG="carried: ${#LIBS[@]} libraries in lib/ ($(mib "$CLOSURE_BYTES") MiB)"
else
  rmdir "$OUT/lib"
  FFMPEG="NOT carried: FFmpeg's own libraries are $(mib "$FF_BYTES") MiB (${#FF_DIRECT[@]} files), with \
everything they load $(mib "$CLOSURE_BYTES") MiB (${#LIBS[@]} files); with the binaries \
($(mib "$BIN_BYTES") MiB) that exceeds the ${BUDGET_MIB} MiB carry. The verity CLI links FFmpeg \
(there is no build without video), so on the GPU machine it starts only where FFmpeg 5.1's \
runtime libraries (libavcodec.so.59 …) are installed; gpu-check.sh then skips the CLI benches \
with that message. The CUDA test binary does not link FFmpeg and runs anywhere (it carries the \
model benchmark as an ignored test, on images)."
fi
glibc_need() { objdump -T "$1" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1; }
TOTAL=$(du -sbL "$OUT" | cut -f1)
{
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "packed: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(ldd --version | head -1)"
  echo "bin/verity: $(mib "$(bytes "$OUT/bin/verity")") MiB, needs $(glibc_need "$OUT/bin/verity")"
  echo "bin/cuda-tests: $(mib "$(bytes "$OUT/bin/cuda-tests")") MiB, needs $(glibc_need "$OUT/bin/cuda-tests")"
  echo "ffmpeg: $FFMPEG"
  echo "total: $(mib "$TOTAL") MiB of ${BUDGET_MIB} MiB"
} > "$OUT/manifest.txt"
cat "$OUT/manifest.txt"
if [ "$TOTAL" -gt "$BUDGET_BYTES" ]; then
  echo "gpu-pack: $OUT is $(mib "$TOTAL") MiB, over the ${BUDGET_MIB} MiB budget" >&2
  exit 1
fi
echo "gpu-pack: carry $OUT (with the working tree) and run: scripts/gpu-check.sh OUTDIR"
