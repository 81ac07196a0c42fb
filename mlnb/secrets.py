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


# Variables whose name ends like a credential's (MY_API_KEY, GITHUB_TOKEN, DB_PASSWORD): their values
# are hidden too, so a key under a custom ``api_key_env`` name is covered without configuration.
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_MIN_SECRET_LEN = 6  # shorter values ("1", "true") would blank out ordinary words


def secret_values(extra_vars: tuple[str, ...] = ()) -> list[str]:
    names = {*TOKEN_VARS, "OPENAI_API_KEY", *extra_vars, *(n for n in os.environ if _SECRET_NAME.search(n))}
    values = {os.environ.get(name, "") for name in names}
    # Longest first, so a secret that contains another is hidden whole.
    return sorted((v for v in values if len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)


def redact(text: str, extra_vars: tuple[str, ...] = ()) -> str:
    """Hide anything that looks like a token, and the exact values of credential variables.

    ``extra_vars`` names more variables whose values are secret (a preset's ``api_key_env``).
    """
    for value in secret_values(extra_vars):
        text = text.replace(value, "***")
    return _SECRET_PATTERN.sub("***", text)
