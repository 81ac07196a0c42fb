"""Hugging Face and API tokens: read from the environment or a .env file, never written anywhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlnb.errors import InputError

TOKEN_VARS = ("HF_TOKEN", "HUGGINGFACE_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# Well-known token shapes: Hugging Face, OpenAI-style sk-, GitHub, AWS access key ids, Slack,
# Google API keys, JSON web tokens, and whatever follows "Bearer " in a header.
_SECRET_PATTERN = re.compile(
    r"(hf_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_\-]{8,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|AKIA[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}|glpat-[A-Za-z0-9_\-]{16,}"
    r"|eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]+|(?<=Bearer )[A-Za-z0-9._~+/=\-]{16,})"
)


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


# Text that untrusted code produced (a sandboxed program's output or error) may hold a secret under any
# name, so it is scrubbed by shape as well: the token formats above, private-key blocks, values given
# to secret-looking keys, long random-looking strings, and the value of any environment variable of
# this process that looks random, whatever the variable is called.
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.DOTALL)
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)((?:api[_-]?key|secret|token|passw(?:or)?d|pwd|credential|auth)[A-Za-z0-9_\-]*[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]{4,})"
)
_WORD = re.compile(r"[A-Za-z0-9+_\-.=]{16,}")
_MIN_RANDOM_LEN = 16


def looks_random(value: str) -> bool:
    """True for a string shaped like a key or token: long, no spaces, letters mixed with digits, varied."""
    if len(value) < _MIN_RANDOM_LEN or any(c.isspace() for c in value):
        return False
    if len(set(value)) < min(12, len(value) // 2):
        return False
    if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
        return True
    # Letters only: random base64 switches case about every other character; a CamelCase name every word.
    letters = [c for c in value if c.isalpha()]
    switches = sum(1 for a, b in zip(letters, letters[1:]) if a.isupper() != b.isupper())
    return len(letters) >= _MIN_RANDOM_LEN and switches >= 0.3 * len(letters)


def random_looking_env_values() -> list[str]:
    values = {v for v in os.environ.values() if looks_random(v) and "/" not in v}
    return sorted(values, key=len, reverse=True)


def redact_untrusted(text: str, extra_vars: tuple[str, ...] = ()) -> str:
    """``redact`` plus secret-shaped values of any name; for text that untrusted code may have produced."""
    text = redact(text, extra_vars)
    for value in random_looking_env_values():
        text = text.replace(value, "***")
    text = _PRIVATE_KEY.sub("***", text)
    text = _SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + "***", text)
    return _WORD.sub(lambda m: "***" if looks_random(m.group(0)) else m.group(0), text)


# Parameter names that would hold a credential itself (api_key, hf_token, password, ...). A name
# ending in _env (api_key_env) holds the name of a variable, which is how keys are meant to be given;
# "key" alone is too common (model_key) to count unless it is the whole name or an api/access/secret key.
_CREDENTIAL_WORDS = {"apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "auth",
                     "authorization", "bearer"}
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "auth", "openai", "hf"}


def is_credential_name(name: str) -> bool:
    parts = [part for part in re.split(r"[_\-.]+", name.lower()) if part]
    if not parts or parts[-1] == "env":
        return False
    # "per token" is a unit (sim_prefill_ms_per_token), not a credential.
    words = [part for index, part in enumerate(parts) if not (part == "token" and index > 0 and parts[index - 1] == "per")]
    if parts == ["key"] or any(part in _CREDENTIAL_WORDS for part in words):
        return True
    return any(part == "key" and index > 0 and parts[index - 1] in _KEY_QUALIFIERS for index, part in enumerate(parts))


def looks_secret(value: object) -> bool:
    """True for a value :func:`redact` would hide: a token shape or a credential variable's value."""
    return isinstance(value, str) and redact(value) != value


def check_not_secret(where: str, name: str, value: object) -> None:
    """Refuse a credential typed into a parameter: it would be stored in run.json, notebooks and HTML.

    The line never repeats the value; it says which environment variable should hold it.
    """
    text = "" if value is None else str(value)
    named = is_credential_name(name)
    if not looks_secret(text) and not (named and text.strip()):
        return
    hugging_face = text.startswith("hf_") or "hf" in name.lower() or "hugging" in name.lower()
    home = ("HF_TOKEN" if hugging_face else
            "the variable that api_key_env names (OPENAI_API_KEY unless set otherwise)")
    what = f"{name!r} names a credential" if named else "the value looks like a credential"
    raise InputError(where + "***" if where.endswith("=") else where,
                     f"{what}; secrets are never taken as parameters (they would be stored with the run): "
                     f"put it in the environment or .env as {home}")


def redact_file(path: str | Path, extra_vars: tuple[str, ...] = ()) -> bool:
    """Mask secrets inside a text file already written (an executed notebook); True if it changed."""
    from mlnb.fileio import write_text_atomic

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    masked = redact(text, extra_vars)
    if masked == text:
        return False
    write_text_atomic(path, masked)
    return True
