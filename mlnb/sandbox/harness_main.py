"""Runs one test case of a model-written program; started inside the sandbox, never imported by mlnb.

    python -S harness_main.py stdio SOLUTION HEADER          stdin is the test's input; stdout is judged
    python -S harness_main.py call SOLUTION HEADER FN_NAME   stdin holds one JSON argument per line

As LiveCodeBench's evaluator does, the program first gets a header of standard-library imports
(``from math import *`` and so on, so that ``List`` or ``defaultdict`` work unimported), a recursion
limit of 50000 and room for 50000-digit integers. HEADER names, comma-separated, the header's
modules the program can use (the parent picks those that define a name the code mentions, see
``header_modules``); importing all of them would double the start-up time of every test case. A stdio program runs as ``__main__``, and
``exit()`` ends it normally. For a call, the program is loaded as a module, ``FN_NAME`` is looked up
on a ``Solution()`` instance when the code defines ``class Solution`` (else on the module), called
with the decoded arguments, and its return value written as one line ``mlnb-result <JSON>`` on the
original stdout; whatever the program prints goes to stderr. The parent compares; nothing here
knows the expected answer.
"""

import os
import sys
import types

STAR_IMPORTS = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
                "statistics", "itertools", "functools", "operator", "io", "sys", "json", "builtins", "typing")
PLAIN_IMPORTS = STAR_IMPORTS[:-2]
RESULT_PREFIX = "mlnb-result "


def header_source(wanted: "set[str] | None" = None) -> str:
    """The import header, in the reference's order, limited to the ``wanted`` modules."""
    keep = (lambda name: True) if wanted is None else (lambda name: name in wanted)
    lines = [f"from {name} import *" for name in STAR_IMPORTS if keep(name)]
    lines += [f"import {name}" for name in PLAIN_IMPORTS if keep(name)]
    return "\n".join(lines) + "\n"


def header_modules(source: str, exports: "dict[str, frozenset[str]]") -> "set[str]":
    """The header modules that define a name ``source`` mentions (all of them if it does not parse).

    Every module exporting a used name is kept, so the name binds to the same module as with
    the whole header (the last one in order wins, as with successive star imports).
    """
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set(STAR_IMPORTS)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return {name for name in STAR_IMPORTS if name in used or used & exports.get(name, frozenset())}


def module_exports() -> "dict[str, frozenset[str]]":
    """What ``from M import *`` binds, for each header module M."""
    import importlib

    table = {}
    for name in STAR_IMPORTS:
        module = importlib.import_module(name)
        public = getattr(module, "__all__", None)
        table[name] = frozenset(public if public is not None else (n for n in vars(module) if not n.startswith("_")))
    return table


def load(source: str, path: str, module_name: str, wanted: "set[str] | None" = None) -> types.ModuleType:
    module = types.ModuleType(module_name)
    module.__file__ = path
    if module_name == "__main__":
        sys.modules["__main__"] = module
    exec(compile(header_source(wanted), "<header>", "exec"), module.__dict__)
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def json_plain(value, depth: int = 0) -> bool:
    """True for values that equal their JSON round trip (what the reference's == can match)."""
    if depth > 500:
        return False
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(json_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_plain(v, depth + 1) for k, v in value.items())
    return False


def run_stdio(path: str, wanted: "set[str]") -> None:
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    try:
        load(source, path, "__main__", wanted)
    except SystemExit:
        pass  # exit() ends a stdio program normally, as in the reference
    sys.stdout.flush()


def run_call(path: str, wanted: "set[str]", fn_name: str) -> None:
    import json  # only here: importing it (and re) costs a stdio case tens of milliseconds

    lines = [line for line in sys.stdin.read().split("\n") if line.strip()]
    args = [json.loads(line) for line in lines]
    result_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the program's prints go to stderr, away from the result line
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    module = load(source, path, "solution", wanted)
    target = module.Solution() if "class Solution" in source and hasattr(module, "Solution") else module
    method = getattr(target, fn_name, None)
    if not callable(method):
        sys.stderr.write(f"mlnb-harness: no function named {fn_name}\n")
        sys.exit(3)
    result = method(*args)
    if isinstance(result, tuple):
        result = list(result)  # as the reference: a tuple answer counts as a list
    if not json_plain(result):
        sys.stderr.write(f"mlnb-harness: returned a {type(result).__name__}, which cannot equal a JSON value\n")
        sys.exit(4)
    sys.stdout.flush()
    result_out.write(RESULT_PREFIX + json.dumps(result) + "\n")
    result_out.flush()


def main() -> None:
    sys.setrecursionlimit(50000)
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(50000)
    mode, path, header = sys.argv[1], sys.argv[2], sys.argv[3]
    fn_name = sys.argv[4] if len(sys.argv) > 4 else ""
    wanted = {name for name in header.split(",") if name}
    sys.argv = [path]
    if mode == "stdio":
        run_stdio(path, wanted)
    else:
        run_call(path, wanted, fn_name)


if __name__ == "__main__":
    main()
