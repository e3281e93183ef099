"""Static checks on the student's source, done in the trusted process (they can't be patched).

Forbidden APIs are named as dotted suffixes, e.g. ``nn.Embedding`` matches
``torch.nn.Embedding`` and ``nn.Embedding``; an import of the leaf name from a torch module
(``from torch.nn import Embedding as E``) and ``getattr(module, "embedding")`` count too.
The sandbox also refuses the matching ATen operators at run time, so renaming tricks fail.
"""

from __future__ import annotations

import ast


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


# The conventional short names, so that `F.conv2d` in a pattern also means
# `torch.nn.functional.conv2d` however the student imported it.
STANDARD_ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn"}


def _expand(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    if head in aliases:
        return aliases[head] + ("." + rest if rest else "")
    return dotted


def _matches(dotted: str, pattern: str) -> bool:
    return dotted == pattern or dotted.endswith("." + pattern)


def _module_aliases(imports: list[str]) -> dict[str, str]:
    """Names bound to torch modules by the student's imports (``import torch.nn.functional as
    fn``, ``from torch.nn import functional as G``), plus the standard ones."""
    aliases = dict(STANDARD_ALIASES)
    for text in imports:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("torch") and alias.asname:
                        aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch"):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _forbidden_match(dotted: str, forbidden: list[str], aliases: dict[str, str]) -> str | None:
    full = _expand(dotted, aliases)
    for pattern in forbidden:
        if _matches(dotted, pattern) or _matches(full, _expand(pattern, STANDARD_ALIASES)):
            return pattern
    return None


def forbidden_uses(sources: list[str], imports: list[str], forbidden: list[str]) -> list[str]:
    """The forbidden APIs that ``sources`` use (directly, through an import alias or getattr)."""
    if not forbidden:
        return []
    leaves = {p.rsplit(".", 1)[-1]: p for p in forbidden}
    aliases: dict[str, str] = {}
    for text in imports:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch"):
                for alias in node.names:
                    if alias.name in leaves:
                        aliases[alias.asname or alias.name] = leaves[alias.name]
    modules = _module_aliases(imports)
    found: list[str] = []
    for text in sources:
        tree = ast.parse(text)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        for node in ast.walk(tree):
            hit = None
            if isinstance(node, ast.Attribute):
                dotted = _dotted(node)
                if dotted and _forbidden_match(dotted, forbidden, modules):
                    hit = dotted  # as the student wrote it
            elif isinstance(node, ast.Name) and node.id in aliases and node.id not in defined:
                hit = aliases[node.id]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in leaves
            ):
                hit = f"{ast.unparse(node.args[0])}.{node.args[1].value}"
            if hit and hit not in found:
                found.append(hit)
    return found


# Introspection and escape hatches no exercise needs: each would let code reach the grader's
# own objects in the sandboxed process (the run-time guard among them), so a submission
# that uses one is not run. The run-time guard is a second line behind this check.
FRAMES = "walks the interpreter's stack frames"
ESCAPE_ATTRIBUTES = {
    **dict.fromkeys(
        ("_getframe", "_current_frames", "currentframe", "f_back", "f_globals", "f_locals",
         "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame", "tb_next",
         "getouterframes", "getinnerframes"),
        FRAMES,
    ),
    **dict.fromkeys(("settrace", "setprofile"), "traces the interpreter"),
    **dict.fromkeys(("__code__", "__closure__"), "edits compiled code"),
    "__globals__": "reaches a function's module",
    "__subclasses__": "searches the classes",
    "__builtins__": "reaches the interpreter's builtins",
}  # fmt: skip
# Modules (and what importing them would give), then builtins that are called.
ESCAPE_MODULES = {
    **dict.fromkeys(("ctypes", "_ctypes"), "calls C directly"),
    "gc": "reaches every object in the process",
    "inspect": FRAMES,
    "importlib": "imports by computed name",
    "builtins": "reaches the interpreter's builtins",
    "torch.library": "re-registers operators",
    "torch._C": "reaches the dispatcher's internals",
    "torch._ops": "reaches the dispatcher",
    "torch.ops": "calls operators through the dispatcher",
}
ESCAPE_CALLS = {
    **dict.fromkeys(("exec", "eval"), "runs code built at run time"),
    "__import__": "imports by computed name",
    "compile": "compiles code built at run time",
    "breakpoint": "starts a debugger",
}
TORCH_MODULES = ("torch", "torch.nn", "torch.nn.functional")


def _escape_module(name: str) -> str | None:
    for module in ESCAPE_MODULES:
        if name == module or name.startswith(module + "."):
            return module
    return None


def _imported_escapes(node: ast.AST) -> dict[str, str]:
    names = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    found = {}
    for name in names:
        module = _escape_module(name)
        if module:
            found.setdefault(f"import {module}", ESCAPE_MODULES[module])
    return found


def escape_hatches(sources: list[str], imports: list[str]) -> list[str]:
    """What ``sources`` (and the notebook's ``imports``) use of the escape hatches above:
    one line each, saying what it does."""
    found: dict[str, str] = {}
    for text in imports:
        for node in ast.walk(ast.parse(text)):
            found.update(_imported_escapes(node))
    modules = _module_aliases(imports)
    for text in sources:
        tree = ast.parse(text)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                dotted = _dotted(node) or f"(...).{node.attr}"
                module = _escape_module(_expand(dotted, modules))
                if node.attr in ESCAPE_ATTRIBUTES:
                    found.setdefault(dotted, ESCAPE_ATTRIBUTES[node.attr])
                elif node.attr == "__dict__" and _expand(dotted[:-9], modules) in TORCH_MODULES:
                    found.setdefault(dotted, "names a torch function by computation")
                elif dotted == "sys.modules" or dotted.endswith(".sys.modules"):
                    found.setdefault(dotted, "reaches loaded modules by name")
                elif module:
                    found.setdefault(dotted, ESCAPE_MODULES[module])
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_imported_escapes(node))
            elif isinstance(node, ast.Name) and node.id in ESCAPE_CALLS and node.id not in defined:
                found.setdefault(node.id, ESCAPE_CALLS[node.id])
            elif _computed_torch_attribute(node, modules):
                found.setdefault(ast.unparse(node)[:80], "names a torch function by computation")
    return [f"`{use}` ({why})" for use, why in found.items()]


def _computed_torch_attribute(node: ast.AST, modules: dict[str, str]) -> bool:
    """``getattr(F, "embed" + "ding")`` and the like: a torch module's attribute whose name is
    not written out."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    if node.func.id not in ("getattr", "vars", "dir") or not node.args:
        return False
    target = _dotted(node.args[0])
    if target is None or _expand(target, modules) not in TORCH_MODULES:
        return False
    return node.func.id != "getattr" or not (
        len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
    )


def escape_message(title: str, escapes: list[str]) -> str:
    """The feedback for a part whose code uses :func:`escape_hatches`."""
    return (
        f"{title}: not run: it uses {'; '.join(escapes)}. No exercise needs this, and the "
        "grader does not run code that reaches into the interpreter or the dispatcher: write "
        "the computation with ordinary tensor operations"
    )
