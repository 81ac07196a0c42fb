#!/usr/bin/env bash
# mlnb on a CUDA machine that has torch and transformers but cannot reach a package registry.
#
#   bash docker/gpu_pack.sh build [BUNDLE]      on a machine with PyPI: wheels for the target, <= 64 MiB
#   bash docker/gpu_pack.sh install [BUNDLE]    on the GPU machine: a venv over the system's torch/transformers
#   bash docker/gpu_pack.sh smoke [BUNDLE]      on the GPU machine: install, then the smoke pipeline on CUDA
#                                               with Llama-3.1-8B's architecture and random weights
#   bash docker/gpu_pack.sh targets [BUNDLE] [ARGS...]   install, then tests/benchmarks/gpu_targets.py ARGS
#
# BUNDLE defaults to build/gpu-bundle (ignored by git). Copy the repository and the bundle to the GPU
# machine, then run `smoke` from the repository's root. The target is CPython 3.12 on manylinux x86_64
# (override with MLNB_TARGET_PYTHON=3.11, for example). What the target already has is left out: torch,
# transformers and everything transformers depends on, and the JupyterLab front end (the launcher and
# runs-browser notebooks), which the pipeline does not need. The project itself is not a wheel: the
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
# transformers 5.17 is the version on the GPU machines this was written for; its dependency closure
# (numpy, pyyaml, pydantic, rich, click, huggingface-hub, ...) is what the target already has.
TARGET_TRANSFORMERS="${MLNB_TARGET_TRANSFORMERS:-transformers==5.17.0}"

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
}

platform_args() {
    echo --only-binary=:all: --python-version "$PY" --implementation cp --abi "$ABI" \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
}

build() {
    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE/wheels"
    runtime_requirements > "$BUNDLE/requirements.txt"
    # rouge-score 0.1.2 (the version MLPerf pins) is published as a source archive only: build its
    # pure-Python wheel here; the download below then takes it from the bundle.
    "$BUILD_PY" -m pip wheel --quiet --no-deps --wheel-dir "$BUNDLE/wheels" "rouge-score==0.1.2"
    # shellcheck disable=SC2046
    "$BUILD_PY" -m pip download --quiet --dest "$BUNDLE/wheels" --find-links "$BUNDLE/wheels" $(platform_args) \
        -r "$BUNDLE/requirements.txt"
    # Drop what comes with transformers on the target (resolved for the same platform, metadata only).
    local report
    report="$(mktemp)"
    # shellcheck disable=SC2046
    "$BUILD_PY" -m pip install --quiet --dry-run --ignore-installed --target "$(mktemp -d)" --report "$report" \
        $(platform_args) "$TARGET_TRANSFORMERS"
    "$BUILD_PY" - "$report" "$BUNDLE/wheels" <<'EOF'
import json, pathlib, re, sys
norm = lambda name: re.sub(r"[-_.]+", "_", name).lower()
present = {norm(item["metadata"]["name"]) for item in json.load(open(sys.argv[1]))["install"]}
present |= {"jinja2", "markupsafe"}  # torch requires them, so a target with torch has them
for wheel in pathlib.Path(sys.argv[2]).glob("*.whl"):
    if norm(wheel.name.split("-")[0]) in present:
        wheel.unlink()
(pathlib.Path(sys.argv[2]).parent / "on-target.txt").write_text("\n".join(sorted(present)) + "\n")
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
    # --system-site-packages: the image's CUDA torch and transformers stay the ones used.
    [ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
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
    local tokenizer=()
    [ -d "${MLNB_GPU_VENV:-.gpu-venv}/tokenizer" ] && tokenizer=(--set "tokenizer=${MLNB_GPU_VENV:-.gpu-venv}/tokenizer")
    # Llama-3.1-8B's architecture, random bf16 weights, reference output lengths, the static decode path.
    mlnb run --preset smoke --model mlnb/configs/llama-3.1-8b-instruct --set load_format=dummy \
        --set decode_path=static --set static_max_batch=4 "${tokenizer[@]}" "${@}"
}

targets() {
    install
    local tokenizer=()
    [ -d "${MLNB_GPU_VENV:-.gpu-venv}/tokenizer" ] && tokenizer=(--tokenizer "${MLNB_GPU_VENV:-.gpu-venv}/tokenizer")
    PYTHONPATH="$PWD" "${MLNB_GPU_VENV:-.gpu-venv}/bin/python" tests/benchmarks/gpu_targets.py "${tokenizer[@]}" "$@"
}

case "$ACTION" in
    build) build ;;
    install) install ;;
    smoke) shift $(($# < 2 ? $# : 2)); smoke "$@" ;;
    targets) shift $(($# < 2 ? $# : 2)); targets "$@" ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
esac
