"""What a driver returns, declared where it is produced and referred to by name elsewhere.

A driver function is decorated with :func:`produces`: the outputs compared value by value
with the reference (each with the words feedback uses for it) and the ones only recorded
for a part's checks (random draws, flags, training results). The spec refers to them
through ``driver.<function>.outputs.<name>``: a name the driver does not declare is an
``AttributeError`` when the spec is imported, not a silent miss at grading time. At run
time the sandbox refuses a driver that returns anything undeclared.
"""

from __future__ import annotations

from collections.abc import Callable


class Outputs:
    """The declared outputs of one driver function: ``compared`` (name -> words) and
    ``recorded`` (names). Attribute access returns the name, or fails for an unknown one."""

    def __init__(self, function: str, compared: dict[str, str], recorded: tuple[str, ...]):
        clash = set(compared) & set(recorded)
        if clash:
            raise ValueError(f"{function}: outputs both compared and recorded: {sorted(clash)}")
        self._function = function
        self.compared = dict(compared)
        self.recorded = tuple(recorded)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.compared, *self.recorded)

    def label(self, name: str) -> str:
        return self.compared.get(name, name)

    def __getattr__(self, name: str) -> str:
        if name.startswith("__") or name in ("_function", "compared", "recorded"):
            raise AttributeError(name)
        if name in self.compared or name in self.recorded:
            return name
        raise AttributeError(
            f"driver {self._function} declares no output {name!r}; it declares "
            f"{', '.join(self.names) or 'none'}"
        )

    def __contains__(self, name: str) -> bool:
        return name in self.compared or name in self.recorded

    def undeclared(self, names) -> list[str]:
        """The names in ``names`` this driver does not declare (a driver bug)."""
        return [n for n in names if n not in self]


def produces(compared: dict[str, str] | None = None, recorded: tuple[str, ...] | list = ()):
    """Declare a driver function's outputs: ``compared`` maps each output compared with the
    reference to the words feedback uses ("gradient of weight"); ``recorded`` lists those
    a part's checks read (draws, flags). ``compared`` may also be a tuple of
    ``(name, words)`` pairs built by a loop."""

    def declare(function: Callable) -> Callable:
        function.outputs = Outputs(function.__name__, dict(compared or {}), tuple(recorded))
        return function

    return declare
