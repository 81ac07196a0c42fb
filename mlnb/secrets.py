"""Hugging Face and API tokens: read from the environment or a .env file, never written anywhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

TOKEN_VARS = ("HF_TOKEN", "HUGGINGFACE_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_SECRET_PATTERN = re.compile(r"(hf_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_\-]{8,})")


def load_dotenv_file(path: str | Path = ".env") -> None:
    """Load ``.env`` into the environment without overriding variables already set."""
    path = Path(path)
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def hf_token() -> str | None:
    for name in TOKEN_VARS:
        value = os.environ.get(name, "").strip().strip('"').strip("'")
        if value:
            return value
    return None


def export_hf_token() -> None:
    """transformers reads HF_TOKEN; copy it there from the other spellings users have in .env."""
    token = hf_token()
    if token and not os.environ.get("HF_TOKEN"):
        os.environ["HF_TOKEN"] = token


def redact(text: str) -> str:
    """Hide anything that looks like a token, and the exact values of the token variables."""
    for name in TOKEN_VARS + ("OPENAI_API_KEY",):
        value = os.environ.get(name)
        if value and len(value) >= 6:
            text = text.replace(value, "***")
    return _SECRET_PATTERN.sub("***", text)
