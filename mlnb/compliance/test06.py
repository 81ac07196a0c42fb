"""MLPerf TEST06 for LLMs: a short performance run that samples ~100 responses into the accuracy
log, then three checks on them (compliance/TEST06 in the MLCommons inference repository):

1. first token: the first-token payload (``token_data``) is a prefix of the full response
   (skipped for Offline, which reports no first token);
2. EOS: no response ends with two or more end-of-sequence tokens (the model's real EOS ids);
3. sample length: ``token_count`` (the n_tokens given to LoadGen) equals the tokens in the response.

``verify_accuracy.txt`` carries the three pass lines the submission checker looks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

# compliance/TEST06/audit.config, as LoadGen reads it (conf_type 2: "*.*" keys apply to any model).
AUDIT_CONFIG = """\
*.*.mode = 2
*.*.accuracy_log_rng_seed = 720381539243781796
*.*.accuracy_log_sampling_target = 100
*.*.min_query_count = 100
*.*.min_duration = 0
*.*.sample_concatenate_permutation = 0
"""


def write_audit_config(folder: Path) -> Path:
    """Write audit.config where the harness passes it explicitly to LoadGen.

    LoadGen's default audit file name is ``audit.config`` in the working directory, while the
    Llama reference passes ``audit.conf``; mlnb passes the path, so the name cannot be missed.
    """
    path = folder / "audit.config"
    path.write_text(AUDIT_CONFIG, encoding="utf-8")
    return path


@dataclass
class Test06Result:
    samples: int = 0
    first_token: str = "Skipped"  # "True" | "False" | "Skipped"
    eos: bool = True
    sample_length: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.samples > 0 and self.first_token != "False" and self.eos and self.sample_length

    def verify_accuracy_txt(self) -> str:
        return (
            f"First token check pass: {self.first_token}\n"
            f"EOS check pass: {self.eos}\n"
            f"Sample length check pass: {self.sample_length}\n"
            "TEST06 verification complete\n"
        )


def _ids(hex_text: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_text), dtype="<i4")


def verify(entries: Iterable[dict], eos_ids: Iterable[int], offline: bool, max_problems: int = 10) -> Test06Result:
    """Run the three checks over accuracy-log entries (dicts as in mlperf_log_accuracy.json)."""
    eos = {int(e) for e in eos_ids}
    result = Test06Result(first_token="Skipped" if offline else "True")
    for entry in entries:
        result.samples += 1
        data = _ids(entry["data"])
        where = f"qsl_idx {entry.get('qsl_idx')}"
        if not offline:
            first = _ids(entry.get("token_data", ""))
            if len(first) == 0 or len(first) > len(data) or not np.array_equal(data[: len(first)], first):
                result.first_token = "False"
                _note(result, f"{where}: first-token data is not a prefix of the response", max_problems)
        trailing = 0
        for token in data[::-1]:
            if int(token) not in eos:
                break
            trailing += 1
        if trailing >= 2:
            result.eos = False
            _note(result, f"{where}: response ends with {trailing} EOS tokens", max_problems)
        if entry.get("token_count") != len(data):
            result.sample_length = False
            _note(result, f"{where}: n_tokens {entry.get('token_count')} != {len(data)} tokens in the response", max_problems)
    if result.samples == 0:
        result.problems.append("the accuracy log holds no sampled responses")
    return result


def _note(result: Test06Result, text: str, limit: int) -> None:
    if len(result.problems) < limit:
        result.problems.append(text)
