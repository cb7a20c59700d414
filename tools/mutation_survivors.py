"""Reading mutmut's surviving mutants: which ones only reword an error message.

mutmut 3 writes every mutant of a function into the mutated copy of its module as
`x_<name>__mutmut_<n>` beside the original `x_<name>__mutmut_orig` (methods:
`xǁ<Class>ǁ<name>__mutmut_<n>`). Comparing the two syntax trees gives the nodes the
mutant changed. A mutant is *message only* when every change lies in the human-readable
part of an error: the detail of `Rejected(code, detail)` (or of a helper that builds one
with a fixed code), and the error's stable code is asserted by some test. Then a test
that pins the code already catches any mutant that changes which error is raised, and
the message's wording is free to change.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

# Error constructors: the call's name -> (index of the code argument or None when the code
# is fixed, the fixed code). Every other argument is human-readable text.
MESSAGE_CALLS: dict[str, tuple[int | None, str]] = {
    "Rejected": (0, ""),
    "_invalid": (None, "invalid_channel_config"),  # channels/routing.py
    "ValueError": (None, "ValueError"),  # a programming error; tests pin the type
}
_DETAIL_KEYWORDS = {"detail"}
_CODE_LITERAL = re.compile(r"""["']([a-z][a-z0-9_]{2,63})["']""")


def asserted_codes(tests_dir: Path) -> set[str]:
    """Every snake_case literal the tests mention: the error codes they assert."""
    found: set[str] = set()
    for path in tests_dir.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found.update(_CODE_LITERAL.findall(text))
        if "ValueError" in text:
            found.add("ValueError")
    return found


@dataclass(frozen=True)
class Survivor:
    name: str
    exit_code: int | None
    diff: str
    message_only: bool

    @property
    def no_tests(self) -> bool:
        return self.exit_code in (5, 33)

    def describe(self) -> str:
        if self.message_only:
            why = "only rewords a message whose code a test asserts"
        elif self.no_tests:
            why = "reached by no test"
        else:
            why = f"survived (exit {self.exit_code})"
        return f"=== {self.name}: {why}\n{self.diff}"


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _code_of(call: ast.Call, codes: set[str]) -> str | None:
    """The stable code this error call raises, when the tests assert it."""
    name = _call_name(call)
    if name not in MESSAGE_CALLS:
        return None
    index, fixed = MESSAGE_CALLS[name]
    if index is None:
        return fixed if fixed in codes else None
    if len(call.args) <= index:
        return None
    arg = call.args[index]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in codes:
        return arg.value
    return None


def _message_parts_only(orig: ast.Call, mutant: ast.Call) -> bool:
    """The two calls differ only outside the code argument and the callee."""
    name = _call_name(orig)
    if name is None or name != _call_name(mutant) or name not in MESSAGE_CALLS:
        return False
    index, _ = MESSAGE_CALLS[name]
    if index is not None:
        if len(mutant.args) <= index:
            return False
        if ast.dump(orig.args[index]) != ast.dump(mutant.args[index]):
            return False
    kept = {k.arg for k in orig.keywords} | {k.arg for k in mutant.keywords}
    for key in kept - _DETAIL_KEYWORDS:
        a = [ast.dump(k.value) for k in orig.keywords if k.arg == key]
        b = [ast.dump(k.value) for k in mutant.keywords if k.arg == key]
        if a != b:
            return False
    return True


Path2 = tuple[tuple[ast.AST, ...], tuple[ast.AST, ...]]


def _differences(a: ast.AST, b: ast.AST, pa: tuple[ast.AST, ...] = (),
                 pb: tuple[ast.AST, ...] = ()) -> list[Path2]:  # fmt: skip
    """The parallel paths (from the function down) to the smallest subtrees that differ."""
    here = ((*pa, a), (*pb, b))
    if type(a) is not type(b):
        return [(pa, pb)]
    out: list[Path2] = []
    for name, va in ast.iter_fields(a):
        vb = getattr(b, name, None)
        if isinstance(va, ast.AST) and isinstance(vb, ast.AST):
            out += _differences(va, vb, *here)
        elif isinstance(va, list) and isinstance(vb, list):
            if len(va) != len(vb):
                return [here]
            for xa, xb in zip(va, vb, strict=True):
                if isinstance(xa, ast.AST) and isinstance(xb, ast.AST):
                    out += _differences(xa, xb, *here)
                elif xa != xb:
                    return [here]
        elif va != vb and name != "ctx":
            return [here]
    return out


def _only_messages(orig: ast.AST, mutant: ast.AST, codes: set[str]) -> bool:
    diffs = _differences(orig, mutant)
    if not diffs:
        return False
    for path_a, path_b in diffs:
        depths = [i for i, node in enumerate(path_a) if isinstance(node, ast.Call)]
        if not depths:
            return False
        call, inner = path_a[depths[-1]], path_b[depths[-1]]  # the innermost call changed
        assert isinstance(call, ast.Call)
        if not isinstance(inner, ast.Call) or _code_of(call, codes) is None:
            return False
        if not _message_parts_only(call, inner):
            return False
    return True


def _functions(source: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name:
            found[node.name] = node
    return found


def survivors(
    work: Path, module: str, left: dict[str, int | None], codes: set[str]
) -> list[Survivor]:
    """Each mutant not killed, with its diff and whether it only rewords a message."""
    mutated = work / "mutants" / "src" / "paycore" / module
    if not left or not mutated.exists():
        return []
    source = mutated.read_text(encoding="utf-8")
    functions = _functions(source)
    lines = source.splitlines()
    out: list[Survivor] = []
    for name, code in sorted(left.items()):
        short = name.rsplit(".", 1)[-1]
        mutant = functions.get(short)
        orig = functions.get(short.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
        if mutant is None or orig is None:
            out.append(Survivor(name, code, "(function not found)", False))
            continue
        a = lines[orig.lineno - 1 : orig.end_lineno]
        b = lines[mutant.lineno - 1 : mutant.end_lineno]
        b = [line.replace(mutant.name, orig.name) for line in b]
        diff = "\n".join(difflib.unified_diff(a, b, "original", "mutant", lineterm="", n=1))
        # Compare the bodies only: the names differ by construction.
        only = _only_messages(_body(orig), _body(mutant), codes)
        out.append(Survivor(name, code, diff, only and code not in (5, 33)))
    return out


def _body(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Module:
    return ast.Module(body=fn.body, type_ignores=[])
