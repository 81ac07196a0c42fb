"""Count the hand-written HTML fragments left in mlnb's Python code, and print them.

A fragment is one string literal (plain or f-string; adjacent literals that Python joins count
once) that holds an HTML tag such as ``<div``, ``</td>`` or ``<br>``. Docstrings are left out.
The markup belongs in the templates under mlnb/report/templates/; this figure shows how much of
it is still in Python.

    python tests/benchmarks/html_fragments.py [--files] [ROOT]
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

# HTML elements only: "<folder or id>", "<stage>" or a numpy dtype "<i4" are not markup.
_ELEMENTS = (
    "a abbr b body br caption code col details div em figure footer h1 h2 h3 h4 head header hr html i img li "
    "link meta ol p pre s section small span strong style sub summary sup table tbody td th thead title tr u ul"
).split()
TAG = re.compile(r"</?(?:%s)(?=[\s>/]|$)" % "|".join(_ELEMENTS), re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def _text(node: ast.AST) -> str:
    """The literal text of a string node (an f-string's fixed parts)."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))


def fragments(path: Path) -> list[int]:
    """Line numbers of the HTML fragments in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string's parts are not fragments of their own
            skip.update(id(child) for child in ast.walk(node) if child is not node)
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in skip and TAG.search(_text(node))
    )


def main(argv: list[str]) -> int:
    show_files = "--files" in argv
    args = [a for a in argv if not a.startswith("--")]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "mlnb"
    total = 0
    per_file = []
    for path in sorted(root.rglob("*.py")):
        lines = fragments(path)
        total += len(lines)
        if lines:
            per_file.append((len(lines), path.relative_to(root.parent).as_posix()))
    if show_files:
        for count, name in sorted(per_file, reverse=True):
            print(f"{count:5d}  {name}")
    print(f"hand-written HTML fragments in {root.name}/**/*.py: {total} (in {len(per_file)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
