"""Lines of code of a Python tree without docstrings, comments and blank lines (the size issue 13 measured).

    python tools/count_loc.py keras_vit        # total
    python tools/count_loc.py keras_vit -v     # per file, largest first
"""

import ast
import io
import pathlib
import sys
import tokenize

SKIPPED = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)


def count(path):
    source = pathlib.Path(path).read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) and isinstance(
                first.value.value, str
            ):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIPPED:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else "keras_vit")
    counts = sorted(((count(p), str(p)) for p in root.rglob("*.py")), reverse=True)
    if "-v" in argv:
        for lines, path in counts:
            print(lines, path)
    print("total", sum(lines for lines, _ in counts))


if __name__ == "__main__":
    main(sys.argv)
