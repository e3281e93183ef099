"""Take the student's definitions out of a notebook, by name, without running anything.

Every code cell is parsed (IPython syntax such as ``%magic`` or ``!cmd`` is translated
first); from the module level we keep imports, function and class definitions, and the
assignments that those definitions read. Later definitions of a name replace earlier ones,
as re-running the notebook top to bottom would; deleted, duplicated or reordered cells
don't matter. Training loops, prints and tests at the top level are left out.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

_BUILTINS = set(dir(builtins))


@dataclass
class Definition:
    """One top-level statement we keep: its source, the names it binds and reads."""

    name: str
    source: str
    kind: str  # "function", "class" or "assignment"
    reads: set[str] = field(default_factory=set)


@dataclass
class Extraction:
    """What was found: imports, named definitions, and cells that could not be parsed."""

    imports: list[str] = field(default_factory=list)
    definitions: dict[str, Definition] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    skipped_cells: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.definitions

    def closure(self, names: list[str]) -> list[str]:
        """The defined names reachable from ``names`` (themselves included), in order."""
        seen: set[str] = set()
        stack = [n for n in names if n in self.definitions]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(r for r in self.definitions[name].reads if r in self.definitions)
        return [n for n in self.order if n in seen]

    def statements(self, names: list[str] | None = None) -> list[str]:
        """Sources to execute: every import, then the definitions (all, or the closure)."""
        keep = self.order if names is None else self.closure(names)
        return list(self.imports) + [self.definitions[n].source for n in keep]


def _free_names(node: ast.AST) -> set[str]:
    """Names a definition reads that it does not bind itself (a generous over-approximation)."""
    loads, stores = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else stores).add(sub.id)
        elif isinstance(sub, ast.arg):
            stores.add(sub.arg)
        elif (
            isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and sub is not node
        ):
            stores.add(sub.name)  # a nested definition is local, not a global it reads
        elif isinstance(sub, ast.alias):
            stores.add((sub.asname or sub.name).split(".")[0])
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            stores.add(sub.name)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        stores.discard(node.name)
    return (loads - stores) - _BUILTINS


def _assigned_names(node: ast.Assign | ast.AnnAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = []
    for target in targets:
        elts = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
        if not all(isinstance(e, ast.Name) for e in elts):
            return []  # attribute or subscript targets (e.g. `torch.allclose = ...`): never kept
        names.extend(e.id for e in elts)
    return names


def _reads(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return _free_names(node)
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        return _free_names(node.value)
    return set()


def _parse_cell(source: str) -> tuple[ast.Module, list[str]]:
    """Parse a cell; IPython's syntax (magics, ``!`` commands, prompts) is turned into Python
    first, which a cell that already parses as Python never needs."""
    try:
        return ast.parse(source), source.splitlines()
    except SyntaxError:
        python = TransformerManager().transform_cell(source)
        return ast.parse(python), python.splitlines()


def _segment(node: ast.stmt, lines: list[str]) -> str:
    """The statement's own text (decorators included), as written: edits can refer to it."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    # Blank lines in front keep line numbers those of the cell, for tracebacks in feedback.
    return "\n" * (first - 1) + "\n".join(lines[first - 1 : node.end_lineno])


def extract(cells: list[str]) -> Extraction:
    """Extract definitions from code-cell sources given in notebook order."""
    out = Extraction()
    assignments: dict[str, Definition] = {}
    position: dict[str, int] = {}
    counter = 0
    for index, source in enumerate(cells):
        try:
            module, lines = _parse_cell(source)
            texts = [
                _segment(node, lines) if node.col_offset == 0 else ast.unparse(node)
                for node in module.body
            ]
            reads = [_reads(node) for node in module.body]
        except (SyntaxError, ValueError) as err:
            line = getattr(err, "lineno", None)
            where = f" (line {line})" if line else ""
            out.skipped_cells.append(f"code cell {index + 1} has a syntax error{where}: skipped")
            continue
        except (RecursionError, MemoryError):
            out.skipped_cells.append(
                f"code cell {index + 1} is too large or too deeply nested to analyse: skipped"
            )
            continue
        for node, text, read in zip(module.body, texts, reads, strict=True):
            counter += 1
            if isinstance(node, ast.Import | ast.ImportFrom):
                if text not in out.imports:
                    out.imports.append(text)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                out.definitions[node.name] = Definition(node.name, text, kind, read)
                assignments.pop(node.name, None)
                position[node.name] = counter
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                names = _assigned_names(node)
                for name in names:
                    assignments[name] = Definition(name, text, "assignment", read)
                    out.definitions.pop(name, None)
                    position[name] = counter
    # Keep an assignment only if a kept definition (transitively) reads it.
    needed: set[str] = set()
    frontier = [r for d in out.definitions.values() for r in d.reads]
    while frontier:
        name = frontier.pop()
        if name in assignments and name not in needed:
            needed.add(name)
            frontier.extend(assignments[name].reads)
    seen_sources: set[str] = set()
    for name in needed:
        definition = assignments[name]
        out.definitions[name] = definition
    out.order = sorted(out.definitions, key=lambda n: position[n])
    # A tuple assignment binds several names with one statement: run it once.
    for name in list(out.order):
        src = out.definitions[name].source
        if out.definitions[name].kind == "assignment" and src in seen_sources:
            out.definitions[name] = Definition(
                name, "pass", "assignment", out.definitions[name].reads
            )
        seen_sources.add(src)
    return out
