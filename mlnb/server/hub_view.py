"""A local model folder seen as a Hugging Face hub cache entry, for servers that only know the hub cache.

`transformers serve` lists on /v1/models only the models of the hub cache (``HF_HUB_CACHE``), so a
model in a plain folder is never listed and a client that checks the list (mlnb's openai backend does)
refuses it. ``hub_cache_view`` lays the folder out as a cache entry of a made-up repo id (symlinks,
nothing copied): ``CACHE/models--mlnb--NAME/snapshots/local/FILE -> FOLDER/FILE`` with ``refs/main``
naming that snapshot. The server then loads ``mlnb/NAME`` from the cache offline and lists it.
"""

from __future__ import annotations

import re
from pathlib import Path

REVISION = "local"


def hub_repo_id(folder: Path) -> str:
    return "mlnb/" + re.sub(r"[^A-Za-z0-9._-]", "-", Path(folder).name)


def hub_cache_view(folder: Path, cache: Path) -> str:
    """Make ``cache`` hold ``folder`` as a hub cache entry; returns the repo id it is served under."""
    folder = Path(folder).resolve()
    repo_id = hub_repo_id(folder)
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    for item in folder.iterdir():
        link = snapshot / item.name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(item)
    return repo_id
