"""The grading service, started by the tests as a user starts it: ``python -m autograder
serve`` in a subprocess on a free loopback port, with its own SQLite database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from autograder.sandbox.isolation import bwrap_works

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


def python() -> str:
    """This interpreter, by its real folder (a symlinked venv is mounted in the sandbox under
    its real path, so the grading processes must run from there)."""
    return str(Path(os.path.realpath(Path(sys.executable).parent)) / Path(sys.executable).name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_bwrap() -> None:
    if not bwrap_works():
        pytest.skip("bubblewrap does not work here: the service refuses to start without it")


class Service:
    """One ``serve`` process (its own session: stopping it stops its workers too)."""

    def __init__(self, folder: Path, *options: str, db: str | None = None):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = db or f"sqlite:///{folder / 'service.sqlite'}"
        self.options = options
        self.process: subprocess.Popen | None = None
        self.log = folder / f"service-{self.port}.log"
        self.http = httpx.Client(timeout=30)  # one client: making one costs ~0.2 s (TLS setup)

    def start(self) -> Service:
        command = [python(), "-m", "autograder", "serve", "--port", str(self.port)]
        command += ["--db", self.db, *self.options]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("a") as sink:
            self.process = subprocess.Popen(
                command, cwd=self.folder, stdout=sink, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the service did not start: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        """``kill -9`` the service and its workers (what a crash or an OOM kill does)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    # ------------------------------------------------------------- client side
    def submit(self, assignment: str, data: bytes, client: str = "10.0.0.1", **kwargs):
        """POST a notebook as a multipart upload, as the client at ``client`` (the service
        trusts X-Forwarded-For from loopback, as from a proxy in front of it)."""
        headers = {"X-Forwarded-For": client, **kwargs.pop("headers", {})}
        files = {"file": (kwargs.pop("filename", f"{assignment}.ipynb"), data)}
        return self.http.post(
            f"{self.url}/api/assignments/{assignment}/submissions",
            files=files, data=kwargs.pop("data", {"parts": "quick"}), headers=headers,
            **kwargs,
        )  # fmt: skip

    def wait(self, submission_id: str, timeout: float = 120) -> dict:
        """Poll until the submission is finished; its JSON."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            url = f"{self.url}/api/submissions/{submission_id}?wait=10"
            info = self.http.get(url).json()
            if info["state"] not in ("queued", "running"):
                return info
        raise TimeoutError(f"{submission_id} not graded in {timeout} s: {info}")


def notebook_bytes(nb) -> bytes:
    return nbformat.writes(nb).encode()
