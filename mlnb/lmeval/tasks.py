"""Where lm-eval finds a stage's task, and the up-front check that the task exists.

``mmlu_tasks_dir`` is lm-eval's ``--include_path``: ``embedded`` names mlnb's own MMLU-format set
(``mlnb/data/embedded/mmlu``, read by local task YAMLs, nothing downloaded); any other value is a
folder of task YAMLs; ``None`` means lm-eval's built-in tasks only (``mmlu`` loads ``cais/mmlu``
from the Hugging Face hub, so it needs internet once).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Optional

from mlnb.errors import InputError

EMBEDDED = "embedded"
EMBEDDED_TASK = "mmlu_mlnb"


def embedded_tasks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "embedded" / "mmlu"


def resolve_tasks_dir(value: Optional[str], where: str = "mmlu_tasks_dir") -> Optional[Path]:
    """The folder lm-eval gets as include_path, or None; InputError when it is not usable."""
    if value is None:
        return None
    if value == EMBEDDED:
        return embedded_tasks_dir()
    path = Path(value).expanduser()
    if not path.is_dir():
        raise InputError(f"{where}={value!r}", "folder not found; expected 'embedded' or a folder of lm-eval task YAMLs")
    if not any(path.glob("**/*.yaml")):
        raise InputError(f"{where}={value!r}", "the folder holds no lm-eval task file (*.yaml)")
    return path.resolve()


def task_manager(tasks_dir: Optional[Path], include_defaults: bool = True, metadata: Optional[dict] = None):
    """lm-eval's TaskManager over its built-in tasks and/or ``tasks_dir``; ``metadata`` goes to every task
    (lm-eval's command line passes the model arguments there)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(
        include_path=str(tasks_dir) if tasks_dir else None, include_defaults=include_defaults, metadata=metadata or {}
    )


def locate_task(task: str, tasks_dir: Optional[Path], where: str = "mmlu_task", metadata: Optional[dict] = None):
    """The smallest TaskManager that knows ``task``: the tasks folder alone when it defines it (fast,
    no scan of lm-eval's thousands of built-in YAMLs), else lm-eval's built-ins plus the folder.

    Returns ``(manager, uses_builtin_tasks)``; raises InputError naming close matches when no task,
    group or tag of that name exists.
    """
    if tasks_dir is not None:
        local = task_manager(tasks_dir, include_defaults=False, metadata=metadata)
        if task in local.all_tasks:
            return local, False
    manager = task_manager(tasks_dir, include_defaults=True, metadata=metadata)
    if task in manager.all_tasks:
        return manager, True
    close = difflib.get_close_matches(task, manager.all_tasks, n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    searched = f"lm-eval's tasks and {tasks_dir}" if tasks_dir else "lm-eval's built-in tasks"
    raise InputError(f"{where}={task!r}", f"no such lm-eval task or group in {searched}{hint}")
