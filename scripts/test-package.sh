#!/usr/bin/env bash
# `make test-package`: installs nothing. Unpacks the .deb made by scripts/package.sh into a
# temporary root with `dpkg -x`, hides the project's .venv (a mount namespace with an empty
# tmpfs over it, via `unshare -rm`; where user namespaces are not allowed, a clean environment
# and an ldd check stand in, and the script says so), and from the unpacked tree runs:
#   1. ldd: every libtorch library resolves inside the unpacked /usr/lib/verity-desk;
#   2. `verity info`: the shipped models are the package's /usr/share/verity-desk/models;
#   3. `verity analyze` on the test photo: the face is found, the case "not scored" (no weights);
#   4. the app under Xvfb for 15 s: still running, a window on screen (screenshot saved to
#      target/package/app.png), no crash in its log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEB=${1:-$(ls -t "$ROOT"/target/package/*.deb 2>/dev/null | head -1)}
[ -f "$DEB" ] || { echo "test-package: no .deb; run make package first" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
R=$T/root
dpkg -x "$DEB" "$R"
mkdir -p "$T/home" "$T/out"
cp "$ROOT/tests/data/astronaut.png" "$T/astronaut.png"
VENV=$ROOT/.venv

cat > "$T/inside.sh" <<INNER
set -euo pipefail
R=$R; T=$T
fail() { echo "test-package: FAIL: \$*" >&2; exit 1; }
echo "== ldd"
ldd \$R/usr/bin/verity > \$T/out/ldd-cli.txt
ldd \$R/usr/bin/verity-desk > \$T/out/ldd-app.txt
! grep -q "not found" \$T/out/ldd-cli.txt \$T/out/ldd-app.txt || fail "unresolved libraries: \$(grep -h 'not found' \$T/out/ldd-*.txt)"
for lib in libtorch_cpu.so libc10.so; do
  for f in ldd-cli ldd-app; do
    grep -qE "\$lib => \$R/usr/(bin/\\.\\./)?lib/verity-desk/" \$T/out/\$f.txt || fail "\$lib not from the package in \$f: \$(grep \$lib \$T/out/\$f.txt)"
  done
done
grep -q "/.venv/" \$T/out/ldd-cli.txt \$T/out/ldd-app.txt && fail "a library still comes from a .venv"
echo "== verity info"
\$R/usr/bin/verity info | tee \$T/out/info.txt
grep -q "shipped    \$R/usr/share/verity-desk/models" \$T/out/info.txt || fail "shipped models not the package's"
echo "== verity analyze"
# Exit status 4 = analysed, not scored (no detector weights installed): what a fresh install says.
rc=0; \$R/usr/bin/verity analyze --data-dir \$T/data --json \$T/astronaut.png > \$T/out/analyze.json || rc=\$?
[ "\$rc" = 4 ] || fail "analyze exited \$rc (4 = not scored expected)"
cat \$T/out/analyze.json
grep -q '"status": *"not_scored"' \$T/out/analyze.json || fail "expected a not-scored case (no weights installed)"
grep -q '"faces": *1' \$T/out/analyze.json || fail "expected the one face of the test photo"
echo "== app under Xvfb"
cat > \$T/app.sh <<'APP'
"\$1/usr/bin/verity-desk" > "\$2/out/app.log" 2>&1 &
pid=\$!
sleep 15
if ! kill -0 \$pid 2>/dev/null; then echo "the app exited early"; cat "\$2/out/app.log"; exit 1; fi
import -window root "\$2/out/app.png"
kill \$pid; wait \$pid 2>/dev/null || true
APP
xvfb-run -a -s "-screen 0 1366x768x24" bash \$T/app.sh \$R \$T || fail "app did not stay up"
grep -qiE "panicked|segmentation" \$T/out/app.log && fail "app log: \$(cat \$T/out/app.log)"
echo "ok"
INNER

CLEAN_ENV=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T/home" XDG_RUNTIME_DIR="$T/home" LANG=C.UTF-8)
if [ -d "$VENV" ] && unshare -rm true 2>/dev/null; then
  echo "test-package: .venv hidden by a tmpfs in a private mount namespace"
  "${CLEAN_ENV[@]}" unshare -rm bash -c "mount -t tmpfs none '$VENV' && bash '$T/inside.sh'"
else
  echo "test-package: user namespaces unavailable (or no .venv): .venv NOT hidden; clean environment + ldd check only"
  "${CLEAN_ENV[@]}" bash "$T/inside.sh"
fi
mkdir -p "$ROOT/target/package"
cp "$T/out/app.png" "$T/out/info.txt" "$T/out/analyze.json" "$ROOT/target/package/" 2>/dev/null || true
echo "test-package: passed ($(basename "$DEB"))"
