"""The warm sandboxed process: import torch once, then fork a fresh child for every job.

A job is one submission's parts, run one after the other in one child (so a submission
pays for one fork and one warm-up, not one per part); a part's own folder holds what it runs
(:mod:`drivers.runtime`) and what it leaves, its printed output included. Protocol (JSON
lines): the trusted process writes ``{"job": DIR, "parts": [{"dir": NAME, "timeout": s,
"cpu": s}, ...], "memory": bytes, "nproc": n, "file_size": bytes, "device": ...,
"gpu_memory_fraction": ...}`` on stdin; the zygote answers ``{"job":
DIR, "parts": [{"status": ..., "seconds": ..., "cpu": ...}, ...]}`` on stdout, one entry per
part that started: "ok" for each part that finished, then, if the child died or was
stopped, that part's ending ("timeout", "signal:SIGXCPU", "exit:N", ...). The parts after
it did not run; the trusted side decides what to run next.

In bubblewrap (``--sandboxed``) every job gets namespaces of its own: a helper forked from
the zygote enters a new mount and PID namespace, mounts a fresh, size-limited tmpfs on
``/tmp`` and ``/dev/shm``, binds that job's folder (named in the request, made by the
trusted side) on ``/job``, hides the jobs folder under an empty read-only tmpfs, and forks
the process that runs the student's code (a ``/proc`` of its own, no capabilities, no new
privileges). When that process ends, the helper kills the namespace's init, which kills
every process left in it, and reports. Nothing the student's code writes or starts
outlives its job (see :mod:`drivers.namespaces`).

Each part has its own wall-clock limit (enforced here, from the moment the child says the
part started) and CPU limit (a CPU-time timer, ``ITIMER_PROF``, set part by part; behind
it ``RLIMIT_CPU``). The
zygote never runs student code itself; after each job it kills every process the job left
(in bubblewrap, the job's own PID namespace ends with it), so the next child starts from a
pristine copy.
"""

import ctypes
import importlib
import json
import math
import os
import resource
import select
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402,F401 - the point of the zygote: import once
import torch.nn.functional  # noqa: E402,F401
from drivers import gpu, namespaces, runtime  # noqa: E402
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


PROGRESS_FD = 3  # the child reports "start K" and "done K CPU" lines here
MAX_PROGRESS_BYTES = 1 << 16
START_SLACK = 10.0  # seconds for the child to get from fork to its first part


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(line: str) -> None:
    os.write(PROGRESS_FD, (line + "\n").encode())


def _flush_output() -> None:
    """Write out what the part printed and Python still buffers (its feedback shows it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _redirect_output(path: str) -> None:
    """Send this part's prints (and the C library's) to its own output.txt."""
    _flush_output()
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)


def _child(request: dict, progress: int) -> None:
    """In the forked child: confine, then run the parts in order. Never returns."""
    code = 0
    try:
        os.setsid()
        if not SANDBOXED:  # a process an earlier job left can't read this one's memory or files
            _undumpable()
        job_dir = namespaces.JOB if SANDBOXED else request["job"]
        parts = request["parts"]
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(progress, PROGRESS_FD)
        os.closerange(PROGRESS_FD + 1, 1024)
        # CUDA's one-off start (context, cuBLAS) before any limit: not a student's cost.
        device, fraction = request.get("device", "cpu"), request.get("gpu_memory_fraction")
        try:
            gpu.warm(device, fraction)
        except Exception:  # noqa: BLE001 - no usable GPU in here: no part can run
            code = gpu.EXIT_NO_CUDA
            traceback.print_exc()  # into the zygote's log, for the instructor
            raise
        # Each part's CPU budget is a CPU-time timer (SIGPROF: precise, and fractions of a
        # second). Behind it, for code that blocks SIGPROF, the soft RLIMIT_CPU a second
        # later (SIGXCPU), and the hard one, the whole job's budget plus two (SIGKILL).
        hard = sum(math.ceil(p["cpu"]) + 1 for p in parts) + 2
        limits = {
            resource.RLIMIT_CPU: (math.ceil(parts[0]["cpu"]) + 1, hard),
            resource.RLIMIT_FSIZE: int(request.get("file_size", 64 << 20)),
            resource.RLIMIT_CORE: 0,
        }
        if request.get("memory"):
            limits[resource.RLIMIT_AS] = BASE_VSIZE + int(request["memory"])
        if request.get("nproc"):
            limits[resource.RLIMIT_NPROC] = int(request["nproc"])
        for which, value in limits.items():
            resource.setrlimit(which, value if isinstance(value, tuple) else (value, value))
        os.chdir(job_dir)
        for index, part in enumerate(parts):
            part_dir = os.path.join(job_dir, part["dir"])
            _redirect_output(os.path.join(part_dir, "output.txt"))
            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]  # student code may lower it
            soft = math.ceil(_cpu_used() + part["cpu"]) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))
            signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the default action: terminate
            _say(f"start {index}")
            signal.setitimer(signal.ITIMER_PROF, float(part["cpu"]))
            runtime.run_part(part_dir, device, fraction)
            signal.setitimer(signal.ITIMER_PROF, 0)
            _flush_output()
            _say(f"done {index} {_cpu_used():.6f}")
    except gpu.ContextLost:  # its results are written; the parts after it need a new child
        code = gpu.EXIT_CONTEXT_LOST
    except BaseException:  # noqa: BLE001
        code = code or 70
    finally:
        os._exit(code)


def _sweep(pgid: int) -> None:
    """Kill what the job left behind and reap it. In bubblewrap, the job's own PID
    namespace ended with its init; anything else in the sandbox is killed too. Outside
    one, only the job's process group (its session) can be killed safely."""
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


def _ending(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"signal:{signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit:{os.WEXITSTATUS(wait_status)}"


class _Progress:
    """What the child has said so far: which part runs, since when, and what has finished."""

    def __init__(self, parts: list[dict], started: float):
        self.parts = parts
        self.results: list[dict] = []
        self.current: tuple[int, float] | None = None  # (part index, its start time)
        self.cpu_before = 0.0  # CPU seconds used by the parts that finished
        self.overall = started + sum(float(p["timeout"]) for p in parts) + START_SLACK
        self.buffer = b""

    @property
    def deadline(self) -> float:
        if self.current is None:
            return self.overall
        index, since = self.current
        return min(self.overall, since + float(self.parts[index]["timeout"]))

    def feed(self, chunk: bytes, now: float) -> bool:
        """Take the child's lines; False if it is abusing the channel."""
        self.buffer += chunk
        if len(self.buffer) > MAX_PROGRESS_BYTES:
            return False
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            words = line.decode(errors="replace").split()
            if len(words) == 2 and words[0] == "start" and words[1] == str(len(self.results)):
                self.current = (len(self.results), now)
            elif len(words) == 3 and words[0] == "done" and self.current is not None:
                index, since = self.current
                if words[1] != str(index):
                    continue
                try:
                    cpu = float(words[2])
                except ValueError:
                    continue
                self.results.append({"status": "ok", "seconds": now - since,
                                     "cpu": max(0.0, cpu - self.cpu_before)})  # fmt: skip
                self.cpu_before, self.current = cpu, None
        return True

    def end(self, status: str, total_cpu: float, now: float) -> list[dict]:
        """The results, with the part that was running (or due next) given ``status``."""
        if self.current or (len(self.results) < len(self.parts) and status != "exit:0"):
            since = self.current[1] if self.current else now
            cpu = max(0.0, total_cpu - self.cpu_before)
            self.results.append({"status": status, "seconds": now - since, "cpu": cpu})
        return self.results


def _run(request: dict) -> list[dict]:
    """Fork the child for one job and watch it; the per-part results."""
    _reap_finished_jobs()
    reader, writer = os.pipe()
    started = time.monotonic()
    report = None
    if SANDBOXED:
        try:
            pid, report = namespaces.spawn(request, writer, _child)
        except OSError:
            os.close(reader)
            os.close(writer)
            return [{"status": f"exit:{namespaces.EXIT_NO_NAMESPACES}", "seconds": 0.0, "cpu": 0.0}]
    else:
        pid = os.fork()
        if pid == 0:
            os.close(reader)
            _child(request, writer)
    os.close(writer)
    progress = _Progress(request["parts"], started)
    exited = os.pidfd_open(pid)  # readable once the child has exited
    watched = [reader, exited] + ([report] if report is not None else [])
    status, reported = None, None
    while status is None:
        now = time.monotonic()
        if now >= progress.deadline:
            os.kill(pid, signal.SIGKILL)
            status = "timeout"
            break
        ready, _, _ = select.select(watched, [], [], progress.deadline - now)
        if reader in ready:
            chunk = os.read(reader, 4096)
            if not chunk:
                watched.remove(reader)  # closed; the child's exit is still watched
            elif not progress.feed(chunk, time.monotonic()):
                os.kill(pid, signal.SIGKILL)
                status = "exit:71"  # flooded the progress channel
        if report in ready and status is None:
            watched.remove(report)
            reported = namespaces.read_report(report)  # closes it
            report = None
        if (exited in ready or reported) and status is None:
            # Read what the child said just before it exited; bounded, since a process it
            # left behind may still be writing.
            drained = 0
            while reader in watched and drained < MAX_PROGRESS_BYTES:
                if not select.select([reader], [], [], 0)[0]:
                    break
                chunk = os.read(reader, 4096)
                drained += len(chunk)
                if not chunk or not progress.feed(chunk, time.monotonic()):
                    break
            break
    if reported is not None and status is None:
        # The job's helper reported: the student's process and everything it started are
        # dead and reaped. The helper's own exit (tearing the namespaces down) goes on
        # while the trusted side reads the results; it is reaped before the next job.
        os.close(exited)
        os.close(reader)
        _FINISHED.append(pid)
        wait_status, cpu = reported
        return progress.end(_ending(wait_status), cpu, time.monotonic())
    _, wait_status, usage = os.wait4(pid, 0)
    os.close(exited)
    os.close(reader)
    if report is not None:
        os.close(report)
    ended = time.monotonic()
    _sweep(pid)
    status = status or _ending(wait_status)
    return progress.end(status, usage.ru_utime + usage.ru_stime, ended)


_FINISHED: list[int] = []  # helpers that reported, not yet reaped


def _reap_finished_jobs() -> None:
    while _FINISHED:
        try:
            os.waitpid(_FINISHED.pop(0), 0)
        except ChildProcessError:
            pass


def _prewarm() -> None:
    """Load what torch loads lazily (kernel overrides, autograd, and optimizers when the
    parts use them) once, here, so that no forked child pays for it. One thread only: no
    thread pool exists to fork."""
    torch.set_num_threads(1)
    with runtime.Forbid(["aten::embedding_renorm"]):
        weight = torch.randn(5, 3, requires_grad=True)
        loss = weight[torch.tensor([1, 2])].sum() + torch.sigmoid(weight).mean()
        loss.backward()
    if WARM_OPTIMIZERS:  # the first step imports torch._dynamo: a second of CPU
        optimizer = torch.optim.Adam([weight], lr=0.1)
        optimizer.step()
        optimizer.zero_grad()


def serve() -> None:
    _undumpable()
    if SANDBOXED:  # a job's init whose helper was killed is reparented here, and reaped
        namespaces.become_subreaper()
    _prewarm()
    if DROP_TO is not None:
        for module in sorted(os.listdir(os.path.dirname(os.path.abspath(__file__)))):
            if module.endswith(".py") and module != "zygote.py":  # read them while we can
                importlib.import_module(f"drivers.{module[:-3]}")
        namespaces.drop_to(DROP_TO)
        _undumpable()
    print(json.dumps({"ready": True, "pid": os.getpid(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        results = _run(request)
        print(json.dumps({"job": request["job"], "parts": results}), flush=True)


BASE_VSIZE = _virtual_size()
SANDBOXED = "--sandboxed" in sys.argv
WARM_OPTIMIZERS = "--warm-optimizers" in sys.argv
DROP_TO = int(sys.argv[sys.argv.index("--drop-to") + 1]) if "--drop-to" in sys.argv else None

if __name__ == "__main__":
    serve()
