#!/usr/bin/env bash
# mlnb on a CUDA machine that has torch and transformers but cannot reach a package registry.
#
#   bash docker/gpu_pack.sh build [BUNDLE]      on a machine with PyPI: wheels for the target, <= 64 MiB
#   bash docker/gpu_pack.sh install [BUNDLE]    on the GPU machine: a venv over the system's torch/transformers
#   bash docker/gpu_pack.sh smoke [BUNDLE]      on the GPU machine: install, then the smoke pipeline on CUDA
#                                               with Llama-3.1-8B's architecture and random weights, or
#                                               with the model folder in MLNB_GPU_MODEL (real weights)
#   bash docker/gpu_pack.sh targets [BUNDLE] [ARGS...]   install, then tests/benchmarks/gpu_targets.py ARGS
#   bash docker/gpu_pack.sh serve [BUNDLE] [ARGS...]     install, then a Server stage through the openai
#                                               backend against a managed `transformers serve` on CUDA
#
# BUNDLE defaults to build/gpu-bundle (ignored by git). Copy the repository and the bundle to the GPU
# machine, then run `smoke` from the repository's root. The target is CPython 3.12 on manylinux x86_64
# (override with MLNB_TARGET_PYTHON=3.11, for example). What the target already has is left out: the
# packages listed in docker/gpu-target-packages.txt (its `pip list`; MLNB_TARGET_PACKAGES names another
# list), and the JupyterLab front end (the launcher and runs-browser notebooks), which the pipeline does
# not need. The project itself is not a wheel: the
# pipeline reads notebooks/ and parameters/ from the repository, so it runs from the checkout.
set -euo pipefail

cd "$(dirname "$0")/.."
ACTION="${1:-}"
BUNDLE="${2:-build/gpu-bundle}"
PY="${MLNB_TARGET_PYTHON:-3.12}"
ABI="cp${PY/./}"
# 60 MiB, so that the repository (about 1.5 MiB) travels beside the bundle within one 64 MiB transfer.
LIMIT_BYTES=$((60 * 1024 * 1024))
# The python that builds the bundle (any with pip); the target's python3 installs it.
if [ -x .venv/bin/python ]; then BUILD_PY="${PYTHON:-.venv/bin/python}"; else BUILD_PY="${PYTHON:-python3}"; fi
# The runtime dependencies of the pipeline, from pyproject.toml, minus torch, transformers, accelerate
# (on the target), gguf (only `mlnb model prepare` reads GGUF files), and ipywidgets/jupyterlab.
runtime_requirements() {
    "$BUILD_PY" - <<'EOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
skip = {"torch", "transformers", "accelerate", "gguf", "ipywidgets", "jupyterlab"}
for dep in deps:
    name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower()
    if name not in skip:
        print(dep)
EOF
    # `transformers serve` (server kind transformers) needs transformers' "serving" extra, which the
    # target's transformers lacks: the names of that extra, less what the target has.
    printf '%s\n' fastapi uvicorn starlette "openai>=1.98.0"
}

platform_args() {
    echo --only-binary=:all: --python-version "$PY" --implementation cp --abi "$ABI" \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
}

# Pure-Python packages that PyPI publishes only as source archives: built into wheels here, so that the
# target-platform resolve (binary wheels only) can take them. rouge-score 0.1.2 is the version MLPerf pins;
# sqlitedict and word2number come with lm-eval.
SDIST_ONLY="rouge-score==0.1.2 sqlitedict word2number"
# What the target image already has (`python3 -m pip list --format=freeze` there); left out of the bundle.
TARGET_PACKAGES="${MLNB_TARGET_PACKAGES:-docker/gpu-target-packages.txt}"

build() {
    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE/wheels"
    runtime_requirements > "$BUNDLE/requirements.txt"
    # shellcheck disable=SC2086
    "$BUILD_PY" -m pip wheel --quiet --no-deps --wheel-dir "$BUNDLE/wheels" $SDIST_ONLY
    # Resolve the whole closure for the target's platform: metadata only, nothing is installed.
    local report
    report="$(mktemp)"
    # shellcheck disable=SC2046
    "$BUILD_PY" -m pip install --quiet --dry-run --ignore-installed --target "$(mktemp -d)" --report "$report" \
        $(platform_args) --find-links "$BUNDLE/wheels" -r "$BUNDLE/requirements.txt"
    # Keep what the target lacks, without descending into what it has (its torch brings its own CUDA).
    MLNB_TARGET_PYTHON="$PY" "$BUILD_PY" docker/gpu_bundle.py "$report" "$TARGET_PACKAGES" \
        "$BUNDLE/requirements.txt" > "$BUNDLE/needed.txt"
    # shellcheck disable=SC2046
    "$BUILD_PY" -m pip download --quiet --no-deps --dest "$BUNDLE/wheels" --find-links "$BUNDLE/wheels" \
        $(platform_args) -r "$BUNDLE/needed.txt"
    # Drop the wheels built above that the closure does not need (the target has them).
    "$BUILD_PY" - "$BUNDLE/needed.txt" "$BUNDLE/wheels" <<'EOF'
import pathlib, re, sys
norm = lambda name: re.sub(r"[-_.]+", "_", name).lower()
keep = {norm(line.split("==")[0]) for line in open(sys.argv[1]) if line.strip()}
for wheel in pathlib.Path(sys.argv[2]).glob("*.whl"):
    if norm(wheel.name.split("-")[0]) not in keep:
        wheel.unlink()
EOF
    # The embedded dataset's tok_input was made with SmolLM2's tokenizer: it counts the reference
    # outputs' tokens and decodes answers. Included when it has been prepared (`mlnb model prepare`).
    local tok="${MLNB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlnb}/models/SmolLM2-135M-Instruct"
    if [ -f "$tok/tokenizer.json" ]; then
        mkdir -p "$BUNDLE/tokenizer"
        gzip -9 -c "$tok/tokenizer.json" > "$BUNDLE/tokenizer/tokenizer.json.gz"  # 3.5 MB -> 0.6 MB
        cp "$tok/tokenizer_config.json" "$BUNDLE/tokenizer/"
    fi
    local size
    size=$(du -sb "$BUNDLE" | cut -f1)
    echo "bundle $BUNDLE: $(ls "$BUNDLE/wheels" | wc -l) wheels, $((size / 1024)) KiB (limit $((LIMIT_BYTES / 1024)) KiB)"
    if [ "$size" -gt "$LIMIT_BYTES" ]; then
        echo "error: $BUNDLE is larger than $((LIMIT_BYTES / 1024 / 1024)) MiB" >&2
        exit 1
    fi
}

install() {
    [ -d "$BUNDLE/wheels" ] || { echo "error: $BUNDLE/wheels not found; run 'build' first" >&2; exit 2; }
    local venv="${MLNB_GPU_VENV:-.gpu-venv}"
    # The image's python3 is itself a virtual environment, so --system-site-packages would show /usr's
    # packages, not its torch. Chain its site-packages with a .pth file instead: the image's CUDA torch and
    # transformers stay the ones used, and the bundle's wheels, earlier on the path, add the rest.
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        local site
        site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
        python3 -c 'import site; print("\n".join(site.getsitepackages()))' > "$site/zz-target-site.pth"
    fi
    "$venv/bin/python" -m pip install --quiet --no-index --find-links "$BUNDLE/wheels" -r "$BUNDLE/requirements.txt"
    # papermill starts the "python3" kernel: make it this venv's python, not the system's.
    "$venv/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    if [ -f "$BUNDLE/tokenizer/tokenizer.json.gz" ]; then
        mkdir -p "$venv/tokenizer"
        gunzip -c "$BUNDLE/tokenizer/tokenizer.json.gz" > "$venv/tokenizer/tokenizer.json"
        cp "$BUNDLE/tokenizer/tokenizer_config.json" "$venv/tokenizer/"
    fi
    "$venv/bin/python" - <<'EOF'
import torch, transformers, mlperf_loadgen, papermill  # noqa: F401
print(f"torch {torch.__version__} (CUDA {torch.cuda.is_available()}), transformers {transformers.__version__}")
EOF
}

# Everything below runs the project from the checkout, with the venv's python.
mlnb() {
    local venv="${MLNB_GPU_VENV:-.gpu-venv}"
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1 "$venv/bin/python" -m mlnb.cli "$@"
}

smoke() {
    install
    local tokenizer=() model_args=() stages
    [ -d "${MLNB_GPU_VENV:-.gpu-venv}/tokenizer" ] && tokenizer=(--set "tokenizer=${MLNB_GPU_VENV:-.gpu-venv}/tokenizer")
    stages="$(PYTHONPATH="$PWD" "${MLNB_GPU_VENV:-.gpu-venv}/bin/python" -c \
        'import yaml; print(",".join(yaml.safe_load(open("parameters/smoke.yaml"))["stages"]))')"
    if [ -n "${MLNB_GPU_MODEL:-}" ]; then
        # A real model on the GPU host: every stage, 08_mmlu included.
        model_args=(--model "$MLNB_GPU_MODEL")
    else
        # Llama-3.1-8B's architecture with random bf16 weights and reference output lengths. lm-eval's MMLU
        # needs real weights, and no real model fits in one 64 MiB transfer (the embedded SmolLM2 folder is
        # 269 MB): 08_mmlu is left out, and says so.
        model_args=(--model mlnb/configs/llama-3.1-8b-instruct --set load_format=dummy)
        stages="${stages//08_mmlu,/}"
        echo "08_mmlu left out: random weights (set MLNB_GPU_MODEL to a model folder with real weights to run it)"
    fi
    # Four slots keep the smoke stages short; a --set static_max_batch=N among the arguments replaces it
    # (mlnb refuses the same key set twice).
    local slots=(--set static_max_batch=4)
    [[ " $* " == *" static_max_batch="* ]] && slots=()
    mlnb run --preset smoke --stages "$stages" "${model_args[@]}" \
        --set decode_path=static "${slots[@]}" "${tokenizer[@]}" "${@}"
}

targets() {
    install
    local tokenizer=()
    [ -d "${MLNB_GPU_VENV:-.gpu-venv}/tokenizer" ] && tokenizer=(--tokenizer "${MLNB_GPU_VENV:-.gpu-venv}/tokenizer")
    PYTHONPATH="$PWD" "${MLNB_GPU_VENV:-.gpu-venv}/bin/python" tests/benchmarks/gpu_targets.py "${tokenizer[@]}" "$@"
}

# A Server stage of the openai backend against a managed `transformers serve` on the GPU (server kind
# transformers). The served model is SmolLM2-135M's architecture with random bf16 weights, saved with the
# bundle's SmolLM2 tokenizer (which made the embedded prompts), or the folder in MLNB_SERVE_MODEL. Its
# small size puts the client and LoadGen under GPU token rates. SERVE_QPS sets the target rate.
serve() {
    install
    local venv="${MLNB_GPU_VENV:-.gpu-venv}" model="${MLNB_SERVE_MODEL:-}" work
    work="$(mktemp -d)"
    if [ -z "$model" ]; then
        model="$work/SmolLM2-135M-random"
        PYTHONPATH="$PWD" "$venv/bin/python" - "$model" "$venv/tokenizer" <<'EOF'
import shutil, sys
from pathlib import Path

import torch
import transformers

folder, tokenizer = Path(sys.argv[1]), Path(sys.argv[2])
config = transformers.AutoConfig.from_pretrained("mlnb/configs/smollm2-135m-instruct")
torch.manual_seed(0)
transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(folder)
for item in tokenizer.iterdir():
    shutil.copy(item, folder / item.name)
print(f"served model: {folder} (SmolLM2-135M architecture, random bf16 weights)")
EOF
    fi
    cat > "$work/serve.yaml" <<EOF
description: "openai backend against a managed transformers serve on CUDA (random weights: speed only)"
stages: [03_server_perf]
common:
  backend: openai
  model: $model
  dataset: embedded
  samples: 64
  max_new_tokens: 128
  output_length: reference
  timeout_s: 900
per_stage:
  03_server_perf:
    target_qps: ${SERVE_QPS:-8}
    min_duration_ms: ${SERVE_MS:-30000}
    min_query_count: ${SERVE_QUERIES:-240}
server:
  kind: transformers
  engine_args: {device: cuda, dtype: bfloat16, continuous_batching: true}
  ready_timeout_s: 300
EOF
    mlnb run --preset "$work/serve.yaml" "${@}"
}

case "$ACTION" in
    build) build ;;
    install) install ;;
    smoke) shift $(($# < 2 ? $# : 2)); smoke "$@" ;;
    targets) shift $(($# < 2 ? $# : 2)); targets "$@" ;;
    serve) shift $(($# < 2 ? $# : 2)); serve "$@" ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
