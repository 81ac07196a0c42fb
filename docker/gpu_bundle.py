"""Which wheels a GPU bundle must carry: the runtime closure minus what the target image already has.

    python docker/gpu_bundle.py REPORT TARGET_PACKAGES REQUIREMENTS  > needed.txt

REPORT is the JSON that `pip install --dry-run --report` wrote when resolving REQUIREMENTS for the target's
platform (metadata only, nothing is downloaded). TARGET_PACKAGES is `pip list --format=freeze` of the target.
The walk starts at REQUIREMENTS and does not descend into a package the target has: the target's own torch
brings its own CUDA libraries, so the ones a freshly resolved torch would pull must not travel.
"""

from __future__ import annotations

import json
import os
import re
import sys

from packaging.requirements import Requirement

# The target's interpreter, for evaluating environment markers (CPython 3.12 on x86_64 Linux by default).
TARGET_ENV = {
    "python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "os_name": "posix",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def target_packages(path: str) -> set[str]:
    with open(path) as handle:
        return {canonical(line.split("==")[0]) for line in handle if "==" in line and not line.startswith("#")}


def needed(report: dict, present: set[str], requirements: list[str], env: dict[str, str]) -> list[str]:
    resolved = {canonical(item["metadata"]["name"]): item["metadata"] for item in report["install"]}
    pending = [Requirement(line) for line in requirements]
    seen: set[tuple[str, frozenset]] = set()
    pins: set[str] = set()
    while pending:
        req = pending.pop()
        name = canonical(req.name)
        key = (name, frozenset(req.extras))
        if name in present or name not in resolved or key in seen:
            continue
        seen.add(key)
        meta = resolved[name]
        pins.add(f"{meta['name']}=={meta['version']}")
        for line in meta.get("requires_dist", []):
            dep = Requirement(line)
            extras = req.extras or {""}
            if dep.marker is None or any(dep.marker.evaluate({**env, "extra": extra}) for extra in extras):
                pending.append(dep)
    return sorted(pins, key=str.lower)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    report_path, target_path, requirements_path = argv
    with open(report_path) as handle:
        report = json.load(handle)
    with open(requirements_path) as handle:
        requirements = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    # gpu_pack.sh passes its target version through; "3.12" -> python_version 3.12.
    version = os.environ.get("MLNB_TARGET_PYTHON", TARGET_ENV["python_version"])
    env = dict(TARGET_ENV, python_version=version, python_full_version=f"{version}.0")
    print("\n".join(needed(report, target_packages(target_path), requirements, env)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
