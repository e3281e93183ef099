"""The warm sandboxed process: import torch once, then fork a fresh child for every job.

Protocol (JSON lines): the trusted process writes ``{"job": DIR, "timeout": s, "cpu": s,
"memory": bytes, "nproc": n, "threads": n}`` on stdin; the zygote answers ``{"job": DIR,
"status": ..., "seconds": ...}`` on stdout once the child is done or killed. The zygote never
runs student code itself; after each job it kills every process left in its PID namespace
and empties /tmp, so the next child starts from a pristine copy.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402,F401 - the point of the zygote: import once
import torch.nn.functional  # noqa: E402,F401
from drivers import runtime  # noqa: E402
from safetensors.torch import load_file  # noqa: E402,F401

PR_SET_DUMPABLE = 4


def _undumpable() -> None:
    """Children running student code (same uid) cannot ptrace us or read our memory."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _virtual_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(request: dict) -> None:
    """In the forked child: confine, then run the job. Never returns."""
    code = 0
    try:
        os.setsid()
        job_dir = request["job"]
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(os.path.join(job_dir, "output.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 1024)
        limits = {
            resource.RLIMIT_CPU: int(request["cpu"]),
            resource.RLIMIT_FSIZE: int(request.get("file_size", 64 << 20)),
            resource.RLIMIT_CORE: 0,
        }
        if request.get("memory"):
            limits[resource.RLIMIT_AS] = BASE_VSIZE + int(request["memory"])
        if request.get("nproc"):
            limits[resource.RLIMIT_NPROC] = int(request["nproc"])
        for which, value in limits.items():
            resource.setrlimit(which, (value, value))
        os.chdir(job_dir)
        runtime.run_job(job_dir)
    except BaseException:  # noqa: BLE001
        code = 70
    finally:
        os._exit(code)


def _sweep(pgid: int) -> None:
    """Kill what the job left behind and reap it. Inside the sandbox's own PID namespace
    that is every other process, and /tmp (a private tmpfs) is emptied; outside one, only
    the job's process group (its session) can be killed safely."""
    for kill in (lambda: os.killpg(pgid, signal.SIGKILL), lambda: os.kill(-1, signal.SIGKILL)):
        if kill is not None:
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                pass
        if not SANDBOXED:
            break
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.005)
    if SANDBOXED:
        for entry in os.listdir("/tmp"):
            path = os.path.join("/tmp", entry)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _wait(pid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                return f"signal:{signal.Signals(sig).name}"
            return f"exit:{os.WEXITSTATUS(status)}"
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.002)


def _prewarm() -> None:
    """Load what torch loads lazily (dispatch modes, autograd, optimizers) once, here, so
    that no forked child pays for it. One thread only: no thread pool exists to fork."""
    torch.set_num_threads(1)
    with runtime.forbidding(runtime.Forbid(["aten::_never_"])):
        weight = torch.randn(5, 3, requires_grad=True)
        loss = weight[torch.tensor([1, 2])].sum() + torch.sigmoid(weight).mean()
        loss.backward()
    optimizer = torch.optim.Adam([weight], lr=0.1)
    optimizer.step()
    optimizer.zero_grad()


def serve() -> None:
    _undumpable()
    _prewarm()
    print(json.dumps({"ready": True, "pid": os.getpid(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        status = _wait(pid, float(request["timeout"]))
        _sweep(pid)
        answer = {"job": request["job"], "status": status, "seconds": time.monotonic() - started}
        print(json.dumps(answer), flush=True)


BASE_VSIZE = _virtual_size()
SANDBOXED = "--sandboxed" in sys.argv

if __name__ == "__main__":
    serve()
