"""A part's limits in the sandbox: seconds, memory, processes, file size, threads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """A part's limits: wall and CPU seconds, extra memory in bytes, processes, threads.

    The defaults suit a part whose probes are small (its reference needs well under a
    second of CPU): an endless loop is stopped by the CPU limit after ``cpu`` seconds, a
    process that sleeps or waits by the wall limit. Parts that train or loop over large
    inputs declare more; ``autograder build`` checks every limit leaves the reference
    solution 10x headroom."""

    wall: float = 20.0
    cpu: float = 5.0
    memory: int = 3 << 30
    extra_processes: int = 64
    file_size: int = 256 << 20
    threads: int = 1
