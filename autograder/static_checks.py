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
