"""Loads one subject of the embedded MMLU-format set for the lm-eval tasks in this folder.

lm-eval calls ``load`` (the tasks' ``custom_dataset``) with the task's ``dataset_kwargs`` and metadata.
The JSON Lines files are found next to this file, so the tasks work from any working directory,
from mlnb and from lm-eval's own command line alike. Nothing is downloaded.
"""

from pathlib import Path

SPLITS = ("dev", "test")


def data_files(subject: str) -> dict[str, str]:
    here = Path(__file__).resolve().parent
    files = {split: here / split / f"{subject}.jsonl" for split in SPLITS}
    for split, path in files.items():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no {split} split for subject {subject!r}")
    return {split: str(path) for split, path in files.items()}


def load(subject: str, **_ignored):
    import datasets

    return datasets.load_dataset("json", data_files=data_files(subject))
