#!/usr/bin/env bash
# The prepared GPU run: scripts/gpu-check.sh OUTDIR
#
# Builds nothing. Runs what scripts/gpu-pack.sh put in target/gpu-carry/ (carried with the
# working tree) on a machine with Python + torch 2.11.0+cu130, transformers, timm, opencv, and
# no Rust / no FFmpeg development files:
#   1. environment: GPU (nvidia-smi), torch, CUDA, what the carried binaries still miss (ldd);
#   2. the CUDA tests (bin/cuda-tests = tests/cuda.rs): CPU vs CUDA parity of every network,
#      device-side alignment, autocast training step, out-of-memory as an error;
#   3. `verity bench models --device cuda` (or, where the CLI cannot start for want of FFmpeg's
#      libraries, the same benchmark from the test binary: bench_models_on_device);
#   4. `verity bench pipeline --device cuda` (needs the CLI; its video is made with the ffmpeg
#      CLI — skipped with the reason when either is missing);
#   5. bench/peer_bench.py (PyTorch eager: transformers CLIP + timm, facenet-pytorch when
#      installed) on the same shapes;
# with `nvidia-smi --query-gpu=name,utilization.gpu,memory.used -lms 200` sampled in the
# background during each benchmark. Writes into OUTDIR: one log + JSON per step, summary.json
# and summary.md (a markdown table per part). Without a GPU it says so, runs the CPU-side smoke
# parts (the CUDA tests then print their SKIP lines) and still writes the summary.
#
# Environment: PYTHON (default: the first of $VERITY_PYTHON, python3, python that imports torch),
# GPU_CARRY (default target/gpu-carry), BENCH_BATCHES (default 1,32,128), BENCH_ITERS (10).
set -uo pipefail
OUT=${1:?usage: scripts/gpu-check.sh OUTDIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARRY=${GPU_CARRY:-$ROOT/target/gpu-carry}
BATCHES=${BENCH_BATCHES:-1,32,128}
ITERS=${BENCH_ITERS:-10}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STEPS="$OUT/steps.tsv"
printf 'step\tstatus\tseconds\tgpu_util_mean\tgpu_util_max\tgpu_mem_max_mib\tnote\n' > "$STEPS"
cd "$ROOT"

log() { echo "gpu-check: $*" >&2; }

# --- Python with torch --------------------------------------------------------------------
PY=""
for p in ${PYTHON:-} ${VERITY_PYTHON:-} python3 python; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then PY=$(command -v "$p"); break; fi
done
if [ -z "$PY" ]; then
  log "no Python with torch found: libtorch comes from the machine's pip torch; nothing can run"
  printf 'environment\tfail\t0\t\t\t\tno python with torch\n' >> "$STEPS"
  exit 1
fi
TORCH_LIB=$("$PY" -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
export LD_LIBRARY_PATH="$CARRY/lib:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VERITY_PYTHON="$PY" VERITY_REPO="$ROOT" VERITY_MODELS_DIR="$ROOT/models"
# The CLI keeps its settings, data and logs under OUTDIR/home, not in the user's folders (only
# for the CLI: Python may need the real HOME for its user site-packages).
mkdir -p "$OUT/home/.config" "$OUT/home/.local/share"
cli() {
  HOME="$OUT/home" XDG_CONFIG_HOME="$OUT/home/.config" XDG_DATA_HOME="$OUT/home/.local/share" \
    "$CARRY/bin/verity" "$@"
}
# The CLI finds shipped files (test photo, peer script, MTCNN weights) next to its binary.
for d in tests bench models; do
  [ -e "$CARRY/bin/$d" ] || ln -s "$ROOT/$d" "$CARRY/bin/$d" 2>/dev/null || true
done

# --- GPU ----------------------------------------------------------------------------------
GPU=0
GPU_NAME="none"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  GPU=1
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
fi
TORCH_CUDA=$("$PY" -c 'import torch;print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
[ "$TORCH_CUDA" = 1 ] || GPU=0
if [ "$GPU" = 1 ]; then log "GPU: $GPU_NAME"; else log "no GPU found (nvidia-smi / torch.cuda): CUDA parts are skipped, CPU-side smoke runs only"; fi

SMI_PID=""
smi_start() { # $1 = step name
  [ "$GPU" = 1 ] || return 0
  nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 \
    > "$OUT/gpu-util-$1.csv" 2>/dev/null &
  SMI_PID=$!
}
smi_stop() { # prints "mean<TAB>max<TAB>mem_max" for the step
  if [ -n "$SMI_PID" ]; then kill "$SMI_PID" 2>/dev/null; wait "$SMI_PID" 2>/dev/null; SMI_PID=""; fi
  local f="$OUT/gpu-util-$1.csv"
  if [ -s "$f" ]; then
    awk -F', *' '{u+=$2; n++; if($2>m)m=$2; if($3>mm)mm=$3} END{if(n) printf "%.1f\t%d\t%d", u/n, m, mm; else printf "\t\t"}' "$f"
  else printf '\t\t'; fi
}
trap '[ -n "$SMI_PID" ] && kill "$SMI_PID" 2>/dev/null' EXIT

# run_step NAME NOTE CMD... : runs CMD with its output in OUTDIR/NAME.log, records the step.
run_step() {
  local name=$1 note=$2; shift 2
  log "$name: $*"
  smi_start "$name"
  local t0 rc status
  t0=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local dt; dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  local util; util=$(smi_stop "$name")
  if [ $rc -eq 0 ]; then status=ok; else status="fail(rc=$rc)"; note="$note; last line: $(tail -1 "$OUT/$name.log" | tr '\t' ' ' | cut -c1-200)"; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$dt" "$util" "$note" >> "$STEPS"
  log "$name: $status in ${dt}s"
  return $rc
}
skip_step() { printf '%s\tskip\t0\t\t\t\t%s\n' "$1" "$2" >> "$STEPS"; log "$1: SKIP: $2"; }

# --- 1. environment -----------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm)"
  echo "glibc: $(ldd --version 2>/dev/null | head -1)"
  echo "python: $PY ($("$PY" -V 2>&1))"
  "$PY" -c 'import torch;print("torch:",torch.__version__,"cuda:",torch.version.cuda,"available:",torch.cuda.is_available(),"device:",torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")' 2>&1
  for m in transformers timm cv2 facenet_pytorch; do
    "$PY" -c "import $m;print('$m:',getattr($m,'__version__','?'))" 2>/dev/null || echo "$m: not installed"
  done
  [ "$GPU" = 1 ] && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  echo "carry: $CARRY"; cat "$CARRY/manifest.txt" 2>/dev/null || echo "(no manifest: run scripts/gpu-pack.sh where the project builds)"
} > "$OUT/environment.txt" 2>&1
missing() { ldd "$1" 2>&1 | awk '/not found/{print $1}' | tr '\n' ' '; }
CLI_OK=0; TESTS_OK=0
if [ -x "$CARRY/bin/verity" ]; then
  M=$(missing "$CARRY/bin/verity")
  if [ -z "$M" ] && cli --version >/dev/null 2>&1; then CLI_OK=1; else
    CLI_WHY="the verity CLI cannot start here: missing ${M:-(see $OUT/environment.txt)} — FFmpeg's runtime libraries are not on this machine and did not fit the carry (see manifest)"
    { echo "verity: $CLI_WHY"; cli --version 2>&1 | head -3; } >> "$OUT/environment.txt"
  fi
else CLI_WHY="no carried verity binary ($CARRY/bin/verity): run scripts/gpu-pack.sh"; fi
if [ -x "$CARRY/bin/cuda-tests" ]; then
  M=$(missing "$CARRY/bin/cuda-tests")
  if [ -z "$M" ]; then TESTS_OK=1; else TESTS_WHY="the CUDA test binary misses libraries: $M"; fi
else TESTS_WHY="no carried CUDA test binary ($CARRY/bin/cuda-tests): run scripts/gpu-pack.sh"; fi
printf 'environment\tok\t0\t\t\t\tGPU: %s; verity CLI %s; CUDA tests %s\n' "$GPU_NAME" \
  "$([ $CLI_OK = 1 ] && echo starts || echo 'cannot start')" "$([ $TESTS_OK = 1 ] && echo ready || echo missing)" >> "$STEPS"

# --- 2. CUDA tests ------------------------------------------------------------------------
if [ "$TESTS_OK" = 1 ]; then
  run_step cuda-tests "tests/cuda.rs (SKIP lines without a GPU)" \
    "$CARRY/bin/cuda-tests" --test-threads=1 --nocapture
else skip_step cuda-tests "$TESTS_WHY"; fi

# --- 3. model benchmark -------------------------------------------------------------------
if [ "$GPU" = 1 ]; then
  if [ "$CLI_OK" = 1 ]; then
    run_step bench-models "verity bench models --device cuda (fp32, fp16, bf16)" \
      cli bench models --device cuda --batches "$BATCHES" --iters "$ITERS" --no-peer \
      --image "$ROOT/tests/data/astronaut.png" --out "$OUT/bench-models.json"
  elif [ "$TESTS_OK" = 1 ]; then
    export VERITY_BENCH_OUT="$OUT/bench-models.json" VERITY_BENCH_BATCHES="$BATCHES" VERITY_BENCH_ITERS="$ITERS"
    run_step bench-models "from the test binary (bench_models_on_device): $CLI_WHY" \
      "$CARRY/bin/cuda-tests" --ignored --exact bench_models_on_device --nocapture
  else skip_step bench-models "neither the CLI nor the test binary can run"; fi
elif [ "$CLI_OK" = 1 ]; then
  run_step bench-models-cpu-smoke "no GPU: CLI smoke on the CPU (fp32, bs 1, 1 iteration; not a GPU figure)" \
    cli bench models --device cpu --dtypes fp32 --batches 1 --iters 1 --no-peer \
    --image "$ROOT/tests/data/astronaut.png" --out "$OUT/bench-models-cpu-smoke.json"
else skip_step bench-models "no GPU, and $CLI_WHY"; fi

# --- 4. pipeline benchmark ----------------------------------------------------------------
if [ "$GPU" = 1 ]; then
  if [ "$CLI_OK" != 1 ]; then skip_step bench-pipeline "$CLI_WHY"
  elif ! command -v ffmpeg >/dev/null 2>&1; then skip_step bench-pipeline "no ffmpeg CLI here (the pipeline bench makes its 10-frame video with it)"
  else
    run_step bench-pipeline "verity bench pipeline --device cuda (vit-l14-effb4, random weights)" \
      cli bench pipeline --device cuda --out "$OUT/bench-pipeline.json"
  fi
else skip_step bench-pipeline "no GPU (the CPU figures are in docs/bench/, made by make bench)"; fi

# --- 5. PyTorch peer ----------------------------------------------------------------------
ONLY=clip,xception,effnet
"$PY" -c 'import facenet_pytorch' >/dev/null 2>&1 && ONLY=mtcnn,$ONLY
peer() { # $1 = json out, rest = args
  local o=$1; shift
  "$PY" "$ROOT/bench/peer_bench.py" --image "$ROOT/tests/data/astronaut.png" "$@" \
    | tee /dev/stderr | sed -n 's/^RESULT //p' > "$o"
  [ -s "$o" ]
}
if [ "$GPU" = 1 ]; then
  run_step peer-bench "bench/peer_bench.py --device cuda --only $ONLY" \
    peer "$OUT/peer-bench.json" --device cuda --dtypes float32,float16,bfloat16 --batches "$BATCHES" --iters "$ITERS" --only "$ONLY"
else
  run_step peer-bench-cpu-smoke "no GPU: peer smoke on the CPU (xception, bs 1, 1 iteration; not a GPU figure)" \
    peer "$OUT/peer-bench-cpu-smoke.json" --device cpu --dtypes float32 --batches 1 --iters 1 --only xception
fi

# --- summary ------------------------------------------------------------------------------
"$PY" - "$OUT" "$GPU" "$GPU_NAME" <<'PY'
import csv, glob, json, os, re, sys
out, gpu, gpu_name = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
steps = list(csv.DictReader(open(os.path.join(out, "steps.tsv")), delimiter="\t"))
def load(name):
    p = os.path.join(out, name)
    try:
        return json.load(open(p))
    except Exception:
        return None
tests = {}
log = os.path.join(out, "cuda-tests.log")
if os.path.exists(log):
    text = open(log, errors="replace").read()
    m = re.search(r"test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored", text)
    tests = {
        "result": m.group(1) if m else "did not finish",
        "passed": int(m.group(2)) if m else None,
        "failed": int(m.group(3)) if m else None,
        "skipped_no_cuda": len(re.findall(r"SKIP \(no CUDA device\): (?!\d+ of)", text)),
        "failures": re.findall(r"^test (\S+) \.\.\. .*FAILED", text, re.M),
        "dry_run": "DRY RUN" in text,
        "figures": [l for l in text.splitlines() if re.match(r"^(\S+ CUDA |MTCNN CUDA|alignment CUDA|autocast training|CUDA OOM)", l)],
    }
ours = load("bench-models.json") or load("bench-models-cpu-smoke.json")
peer = load("peer-bench.json") or load("peer-bench-cpu-smoke.json")
rows = []
if ours:
    prow = {(r["name"], r["dtype"], r["batch"]): r for r in (peer or {}).get("rows", [])}
    for r in ours.get("rows", []):
        o = r.get("ours", r)
        p = prow.get((o["name"], o["dtype"], o["batch"]))
        rows.append({**{k: o[k] for k in ("name", "device", "dtype", "batch", "ms_per_batch", "faces_per_s")},
                     "peer_ms_per_batch": p and p["ms_per_batch"],
                     "speedup_vs_peer": p and round(p["ms_per_batch"] / o["ms_per_batch"], 2)})
summary = {"gpu": gpu_name if gpu else None, "steps": steps, "cuda_tests": tests, "models": rows,
           "precision": (ours or {}).get("precision"), "pipeline": load("bench-pipeline.json"),
           "peer": peer}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
md = [f"# GPU check — {gpu_name if gpu else 'no GPU (CPU smoke only; no GPU figures)'}", ""]
env = os.path.join(out, "environment.txt")
if os.path.exists(env):
    md += ["```", open(env).read().strip(), "```", ""]
md += ["| step | status | s | GPU util mean % | max % | mem max MiB | note |", "|---|---|---|---|---|---|---|"]
for s in steps:
    md.append("| " + " | ".join((s.get(k) or "").replace("|", "/") for k in
              ("step", "status", "seconds", "gpu_util_mean", "gpu_util_max", "gpu_mem_max_mib", "note")) + " |")
if tests:
    md += ["", f"**CUDA tests**: {tests['result']} — {tests['passed']} passed, {tests['failed']} failed, "
           f"{tests['skipped_no_cuda']} skipped (no CUDA device)"]
    md += [f"- failed: `{f}`" for f in tests["failures"]]
    md += [f"- {l}" for l in tests["figures"]]
if rows:
    if not gpu:
        md += ["", "CPU smoke of the commands (1 iteration under whatever else runs here): proves the "
               "script works; not a benchmark and not a GPU figure."]
    md += ["", "| network | device | dtype | batch | ours ms | faces/s | peer ms | speedup |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['name']} | {r['device']} | {r['dtype']} | {r['batch']} | {r['ms_per_batch']} | {r['faces_per_s']} | "
                  f"{r['peer_ms_per_batch'] if r['peer_ms_per_batch'] is not None else '-'} | "
                  f"{str(r['speedup_vs_peer']) + '×' if r['speedup_vs_peer'] is not None else '-'} |")
if summary["precision"]:
    md += ["", "| network | dtype | |Δp| p99 vs fp32 | max |", "|---|---|---|---|"]
    md += [f"| {d['name']} | {d['dtype']} | {d['p99_abs_dp']:.2e} | {d['max_abs_dp']:.2e} |" for d in summary["precision"]]
if summary["pipeline"]:
    md += ["", "| input | frames | faces | decode s | detect s | align s | encode s | store s | total s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary["pipeline"].get("results", []):
        t = r.get("times_s", {})
        md.append(f"| {r['input']} | {r['frames']} | {r['faces']} | " + " | ".join(
            f"{t.get(k, 0):.3f}" for k in ("decode", "detect", "align", "encode", "store", "total")) + " |")
if peer and not rows:
    md += ["", "| peer network | device | dtype | batch | ms | faces/s |", "|---|---|---|---|---|---|"]
    md += [f"| {r['name']} | {r['device']} | {r['dtype']} | {r['batch']} | {r['ms_per_batch']} | {r['faces_per_s']} |" for r in peer.get("rows", [])]
open(os.path.join(out, "summary.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
log "wrote $OUT/summary.md and $OUT/summary.json"
# Exit non-zero when a step that ran failed (skips are not failures).
! grep -qP '\tfail' "$STEPS"
