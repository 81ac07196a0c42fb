#!/usr/bin/env bash
# The GPU checks that belong together, in one sitting on a CUDA machine, each capped so the whole fits
# a time budget (BUDGET seconds): (STAGES) smoke stages with telemetry, capped at T_STAGES seconds, then
# the GPU targets (ONLY1, capped at T1), then (SERVE=1) a Server stage against a managed `transformers
# serve`, then (ONLY2) more gpu_targets sections such as the Server search. Each run folder is packed
# into $OUT/<name>.tgz.
#
#   OUT=/tmp/gpu-out BUDGET=560 STAGES=01_offline_perf T_STAGES=150 SMOKE_ARGS="--set samples=64" SERVE=1 \
#       ONLY2=server ARGS2="--server-trials 4 --server-seconds 10" bash docker/gpu_session.sh
#
# Needs the bundle from `bash docker/gpu_pack.sh build` next to the repository (build/gpu-bundle).
OUT="${OUT:?set OUT to a folder for the logs and figures}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
START=$(date +%s)
left() { echo $(( ${BUDGET:-560} - ($(date +%s) - START) )); }
filter() { grep -v "^WARNING\|FutureWarning\|warnings.warn\|UserWarning" ; }
# The newest run folder, packed without notebooks, compile caches and traces (the transfer back is small).
pack_run() {
  local run
  run=$(ls -td outputs/*/ 2>/dev/null | head -1)
  [ -n "$run" ] && tar czf "$OUT/$1.tgz" --exclude='*.ipynb' --exclude='compile-cache' --exclude='trace.json' \
    --exclude='hub-cache' -C "$run" . && ls -la "$OUT/$1.tgz"
}
nvidia-smi --query-gpu=name,memory.total,power.limit,driver_version --format=csv,noheader
if [ -n "${STAGES:-}" ] && [ $(left) -gt 100 ]; then
  # shellcheck disable=SC2086
  timeout ${T_STAGES:-$(( $(left) - ${RESERVE:-120} ))} bash docker/gpu_pack.sh smoke build/gpu-bundle --stages "$STAGES" ${SMOKE_ARGS:-} \
    2>&1 | filter > $OUT/smoke.log
  tail -25 $OUT/smoke.log
  pack_run run
  echo "== after stages: $(left) s left"
fi
if [ "${ONLY1:-bandwidth,tokens,singlestream,offline}" != "none" ]; then
  timeout ${T1:-330} bash docker/gpu_pack.sh targets build/gpu-bundle --only ${ONLY1:-bandwidth,tokens,singlestream,offline} \
    --json $OUT/t1.json 2>&1 | filter | tee $OUT/t1.log | grep -v "^\s*$" | tail -40
  echo "== after targets: $(left) s left"
fi
if [ -n "${SERVE:-}" ] && [ $(left) -gt 90 ]; then
  timeout ${T_SERVE:-$(( $(left) - 10 ))} bash docker/gpu_pack.sh serve build/gpu-bundle 2>&1 | filter > $OUT/serve.log
  tail -25 $OUT/serve.log
  pack_run serve
  echo "== after serve: $(left) s left"
fi
if [ -n "${ONLY2:-}" ] && [ $(left) -gt 60 ]; then
  # shellcheck disable=SC2086
  timeout $(( $(left) - 10 )) bash docker/gpu_pack.sh targets build/gpu-bundle --only $ONLY2 ${ARGS2:-} --json $OUT/t2.json \
    2>&1 | filter | tee $OUT/t2.log | grep -v "^\s*$" | tail -30
fi
echo "== done: $(left) s left"
