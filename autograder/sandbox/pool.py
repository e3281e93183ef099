"""The trusted side of the sandbox: start a warm zygote, hand it jobs, read back tensors.

A :class:`Sandbox` keeps one zygote (torch already imported) alive across jobs, so a job
costs a ``fork`` rather than a Python start-up. Each job is one part of one submission:
a hang, a crash or a kill costs that part only. If the zygote itself dies or stops
answering, it is restarted and the job is reported as failed, never retried blindly.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from autograder.sandbox import isolation as iso

MAX_OUTPUT_BYTES = 512 << 20
MAX_META_BYTES = 1 << 20
MAX_TEXT = 4000
START_TIMEOUT = 120.0


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped answering."""


@dataclass
class Limits:
    """Per-job limits: wall and CPU seconds, extra memory in bytes, processes, threads."""

    wall: float = 30.0
    cpu: float = 30.0
    memory: int = 3 << 30
    extra_processes: int = 64
    file_size: int = 256 << 20
    threads: int = 1


@dataclass
class JobOutcome:
    """What came back from one job: the process status, tensors, and the child's notes."""

    status: str  # "ok", "timeout", "signal:SIGKILL", "exit:N" or "sandbox-failed: ..."
    seconds: float
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    output_text: str = ""
    problem: str | None = None  # unreadable output and the like

    @property
    def finished(self) -> bool:
        return self.status == "ok" and bool(self.meta.get("finished"))


def _tasks_of_uid(uid: int) -> int:
    """How many tasks (threads) the user owns now: RLIMIT_NPROC counts these."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1").strip())
        except (OSError, KeyError, ValueError):
            continue
    return count


class Sandbox:
    """A warm zygote in bubblewrap (or, failing that, under resource limits only)."""

    def __init__(self, device: str = "cpu", isolation: str = "auto"):
        self.device = device
        self.isolation = iso.choose(isolation)
        self._root = Path(tempfile.mkdtemp(prefix="dlf-grader-"))
        self._jobs = self._root / "jobs"
        self._jobs.mkdir(mode=0o700)
        self._proc: subprocess.Popen | None = None
        self._counter = 0
        self.restarts = 0

    @property
    def description(self) -> str:
        return iso.DESCRIPTIONS[self.isolation]

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self.isolation == "bwrap":
            cmd = iso.bwrap_command(self._jobs, self.device)
        else:
            cmd = iso.plain_command()
        log = open(self._root / "zygote.log", "ab")  # noqa: SIM115 - closed with the process
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, bufsize=0
        )
        log.close()
        line = self._readline(START_TIMEOUT)
        if line is None or not line.get("ready"):
            self._kill()
            tail = (self._root / "zygote.log").read_text(errors="replace")[-2000:]
            raise SandboxError(f"the sandbox did not start ({self.isolation}): {tail.strip()}")

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self._root, ignore_errors=True)

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe:
                    pipe.close()
        self._proc = None

    def _readline(self, timeout: float) -> dict | None:
        """One JSON line from the zygote, or None on timeout, EOF or garbage."""
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._proc.stdout], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            buffer += chunk
        try:
            value = json.loads(buffer.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def _fresh_job_dir(self) -> Path:
        for entry in self._jobs.iterdir():  # nothing a previous job left may be read later
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
        self._counter += 1
        job_dir = self._jobs / str(self._counter)
        job_dir.mkdir(mode=0o700)
        return job_dir

    def run(self, job: dict, probes: dict[str, torch.Tensor], limits: Limits) -> JobOutcome:
        """Run one job (see :mod:`autograder.drivers.runtime` for ``job``'s keys)."""
        self.start()
        job_dir = self._fresh_job_dir()
        with open(job_dir / "job.json", "w") as fh:
            json.dump({**job, "device": self.device, "threads": limits.threads}, fh)
        save_file({k: v.contiguous() for k, v in probes.items()}, job_dir / "probes.safetensors")
        inside = f"{iso.SANDBOX_JOBS}/{job_dir.name}" if self.isolation == "bwrap" else str(job_dir)
        request = {
            "job": inside,
            "timeout": limits.wall,
            "cpu": max(1, int(limits.cpu)),
            "memory": limits.memory if not self.device.startswith("cuda") else 0,
            "nproc": _tasks_of_uid(os.getuid()) + limits.extra_processes,
            "file_size": limits.file_size,
        }
        started = time.monotonic()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
        except BrokenPipeError:
            self._kill()
            self.restarts += 1
            return JobOutcome("sandbox-failed: the sandbox had stopped", 0.0)
        answer = self._readline(limits.wall + 30)
        seconds = time.monotonic() - started
        if answer is None or answer.get("job") != inside:
            self._kill()
            self.restarts += 1
            outcome = JobOutcome("sandbox-failed: the sandbox stopped answering", seconds)
        else:
            outcome = JobOutcome(str(answer.get("status")), float(answer.get("seconds", seconds)))
            if outcome.status == "exit:0":
                outcome.status = "ok"
        self._collect(job_dir, outcome)
        shutil.rmtree(job_dir, ignore_errors=True)
        return outcome

    @staticmethod
    def _collect(job_dir: Path, outcome: JobOutcome) -> None:
        """Read back tensors and notes, refusing anything oversized or malformed."""
        text = job_dir / "output.txt"
        if text.is_file() and not text.is_symlink():
            with open(text, "rb") as fh:
                outcome.output_text = fh.read(MAX_TEXT).decode(errors="replace")
        meta = job_dir / "meta.json"
        if meta.is_file() and not meta.is_symlink() and meta.stat().st_size <= MAX_META_BYTES:
            try:
                value = json.loads(meta.read_text(errors="replace"))
                outcome.meta = value if isinstance(value, dict) else {}
            except json.JSONDecodeError:
                outcome.problem = "the submission's notes were not valid JSON"
        out = job_dir / "out.safetensors"
        if out.is_file() and not out.is_symlink():
            if out.stat().st_size > MAX_OUTPUT_BYTES:
                outcome.problem = "the submission's outputs were too large to read back"
                return
            try:
                outcome.outputs = load_file(out)
            except (SafetensorError, OSError, ValueError) as err:
                outcome.problem = f"the outputs could not be read back safely ({err})"
