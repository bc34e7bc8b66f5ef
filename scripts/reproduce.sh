#!/usr/bin/env bash
# Re-run the commands behind one of the README's results tables and rewrite its CSV in results/.
#
#   scripts/reproduce.sh TABLE...      (or: npm run reproduce -- TABLE...)
#
# Tables (wall clock measured on the shared 2-core machine at load 3-7, 1 engine thread, under `nice`):
#   mnist          results/results-mnist.csv          regnetx_002 and resnet18, 2 epochs each   ~23 min
#   fashion-mnist  results/results-fashion-mnist.csv  regnetx_002 and resnet18, 1 epoch each    ~10 min
#   wasm-speed     results/benchmark-{train,infer}-wasm-32px.csv  tfjs on wasm, batch 64       <1 min
#   torch-speed    results/benchmark-{infer,train}-torch-vs-pytorch.csv  torch engine vs PyTorch  ~18 min
#   onnx-speed     results/benchmark-infer-onnx-vs-pytorch.csv  onnx vs torch vs PyTorch      ~25 min
#   loader-speed   results/benchmark-loader-224px.csv  image loader vs timm's DataLoader      ~4 min
#   sampler-speed  results/benchmark-sample-regnetx.csv  sampler, one core                   <1 min
#   amp-speed      results/benchmark-{train,infer}[-amp-bf16][-nhwc]-torch-32px-b32.csv  torch fp32/bf16, NCHW/NHWC  <1 min
#   accuracy       mnist and fashion-mnist
#   speed          every speed table (wasm, torch, onnx, loader, sampler, amp)
#   all            every table
#
# Each table's commands run into a fresh temporary results folder; only when all of them succeed does its
# CSV replace the one in results/ (so a failed or interrupted run leaves the committed file as it was).
# The training rows of runs.csv are appended to results/runs.csv (local, not committed).
# The `regnet ...` lines below are the README's, word for word but for the results folder and the progress
# mode (test/readme-results.test.ts checks it). NICE=0 runs them at normal priority. The speed tables' bench
# scripts (bench/*.ts, alternating ours and the peer, medians) run at normal priority (BENCH_NICE to change).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[ $# -ge 1 ] || usage

# `regnet` as the README writes it: the CLI of this checkout, at low priority
regnet() {
  local t0=$SECONDS
  echo "+ regnet $*" >&2
  nice -n "${NICE:-19}" node "$ROOT/bin/regnet.js" "$@"
  echo "  ($((SECONDS - t0)) s)" >&2
}

# a bench script (bench/NAME.ts) of a speed table; it writes its CSV itself, atomically
bench() {
  local t0=$SECONDS
  echo "+ node --import tsx bench/$*" >&2
  nice -n "${BENCH_NICE:-0}" node --import tsx "$ROOT/bench/$1" "${@:2}"
  echo "  ($((SECONDS - t0)) s)" >&2
}

OUT=""
# begin TABLE: a fresh temporary results folder for the table's commands
begin() {
  OUT=$(mktemp -d "${TMPDIR:-/tmp}/regnet-reproduce-$1.XXXXXX")
  echo "== $1 (temporary results folder $OUT)" >&2
}
# finish FILE...: move the table's files into results/, keep runs.csv rows locally
finish() {
  mkdir -p results
  for f in "$@"; do
    [ -f "$OUT/$f" ] || { echo "reproduce: $OUT/$f was not written" >&2; exit 1; }
    mv -f "$OUT/$f" "results/$f"
    echo "wrote results/$f" >&2
  done
  if [ -f "$OUT/runs.csv" ]; then
    if [ -f results/runs.csv ]; then tail -n +2 "$OUT/runs.csv" >>results/runs.csv; else cp "$OUT/runs.csv" results/runs.csv; fi
  fi
  rm -rf "$OUT"
}

table_mnist() {
  begin mnist
  regnet train regnetx_002 --stem small --dataset mnist --engine torch --threads 1 --epochs 2 --batch-size 64 --warmup-epochs 0.2 --results-dir "$OUT" --progress plain
  regnet train resnet18 --stem imagenet --dataset mnist --engine torch --threads 1 --epochs 2 --batch-size 64 --warmup-epochs 0.2 --results-dir "$OUT" --progress plain
  finish results-mnist.csv
}

table_fashion_mnist() {
  begin fashion-mnist
  regnet train regnetx_002 --stem small --dataset fashion-mnist --engine torch --threads 1 --epochs 1 --batch-size 64 --warmup-epochs 0.2 --results-dir "$OUT" --progress plain
  regnet train resnet18 --stem imagenet --dataset fashion-mnist --engine torch --threads 1 --epochs 1 --batch-size 64 --warmup-epochs 0.2 --results-dir "$OUT" --progress plain
  finish results-fashion-mnist.csv
}

table_wasm_speed() {
  begin wasm-speed
  regnet bench regnetx_002 resnet18 --mode train --batch-size 64 --img-size 32 --num-classes 10 --stem imagenet --engine wasm --threads 1 --out "$OUT/benchmark-train-wasm-32px.csv"
  regnet bench regnetx_002 resnet18 --mode infer --batch-size 64 --img-size 32 --num-classes 10 --stem imagenet --engine wasm --threads 1 --out "$OUT/benchmark-infer-wasm-32px.csv"
  finish benchmark-train-wasm-32px.csv benchmark-infer-wasm-32px.csv
}

table_torch_speed() {
  begin torch-speed
  bench torch-vs-pytorch.ts --threads 2 --rounds 5 --iters 1 --results-dir "$OUT"
  finish benchmark-infer-torch-vs-pytorch.csv benchmark-train-torch-vs-pytorch.csv
}

table_onnx_speed() {
  begin onnx-speed
  bench onnx-vs-pytorch.ts --threads 2 --rounds 5 --iters 1 --results-dir "$OUT"
  finish benchmark-infer-onnx-vs-pytorch.csv
}

table_loader_speed() {
  begin loader-speed
  bench loader.ts --images 520 --rounds 3 --results-dir "$OUT"
  finish benchmark-loader-224px.csv
}

table_sampler_speed() {
  begin sampler-speed
  bench sample.ts --results-dir "$OUT"
  finish benchmark-sample-regnetx.csv
}

table_amp_speed() {
  begin amp-speed
  bench torch-amp-cpu.ts 15 32 "$OUT"
  local files=()
  for m in train infer; do
    for v in "" -amp-bf16 -nhwc -amp-bf16-nhwc; do files+=("benchmark-$m$v-torch-32px-b32.csv"); done
  done
  finish "${files[@]}"
}

tables=()
for t in "$@"; do
  case "$t" in
    mnist | fashion-mnist | wasm-speed | torch-speed | onnx-speed | loader-speed | sampler-speed | amp-speed) tables+=("$t") ;;
    accuracy) tables+=(mnist fashion-mnist) ;;
    speed) tables+=(wasm-speed torch-speed onnx-speed loader-speed sampler-speed amp-speed) ;;
    all) tables+=(mnist fashion-mnist wasm-speed torch-speed onnx-speed loader-speed sampler-speed amp-speed) ;;
    *)
      echo "reproduce: unknown table '$t' (mnist, fashion-mnist, wasm-speed, torch-speed, onnx-speed, loader-speed, sampler-speed, amp-speed, accuracy, speed, all)" >&2
      exit 2
      ;;
  esac
done

echo "building dist/ (tsc)" >&2
npx tsc -p tsconfig.json
start=$SECONDS
for t in "${tables[@]}"; do
  case "$t" in
    mnist) table_mnist ;;
    fashion-mnist) table_fashion_mnist ;;
    wasm-speed) table_wasm_speed ;;
    torch-speed) table_torch_speed ;;
    onnx-speed) table_onnx_speed ;;
    loader-speed) table_loader_speed ;;
    sampler-speed) table_sampler_speed ;;
    amp-speed) table_amp_speed ;;
  esac
done
echo "done in $((SECONDS - start)) s" >&2
