"""Errors that mean "the user gave us something wrong".

Every such error renders as one line naming the file, field or value at fault
and what was expected. The CLI prints ``str(err)`` and exits non-zero without a
traceback (unless ``--debug``).
"""

from __future__ import annotations


class InputError(Exception):
    """Bad user input: a preset, a dataset, a model path, a user.conf, a CLI value."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class StageFailed(Exception):
    """A pipeline stage did not finish; its folder holds partial logs and failure.json."""
