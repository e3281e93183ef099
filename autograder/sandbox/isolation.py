"""Which isolation is available here, and the command line that applies it.

``bwrap`` (Debian package ``bubblewrap``): new mount, PID, network, IPC, UTS and user
namespaces; the system and the Python environment read-only; only the job folder writable;
no network; nothing of the course checkout (solutions, hidden tests, gradebook) mounted.
Resource limits (CPU, memory, processes, file size) and a wall-clock timeout apply in both
modes. ``rlimits`` is the fallback where bubblewrap is missing: it is reported as weaker.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

DRIVERS = Path(__file__).resolve().parent.parent / "drivers"
SANDBOX_DRIVERS = "/grader/drivers"
SANDBOX_JOBS = "/jobs"

DESCRIPTIONS = {
    "bwrap": "bubblewrap: private mount, PID, network and user namespaces; read-only system; "
    "no network; no view of the course files; CPU, memory, process and time limits",
    "rlimits": "resource limits only (CPU, memory, time): bubblewrap is not installed, so the "
    "submission could read files and use the network; install bubblewrap for real isolation",
}


def _python_roots() -> list[str]:
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(roots)


def bwrap_command(jobs_dir: Path, device: str, options: tuple[str, ...] = ()) -> list[str]:
    """The bubblewrap command line that starts the zygote over ``jobs_dir`` (``options``:
    the zygote's, e.g. ``--warm-optimizers``)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
    cmd += ["--uid", "65534", "--gid", "65534", "--hostname", "sandbox"]
    cmd += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for link in ("bin", "lib", "lib64", "lib32", "sbin"):
        target = os.path.join("/", link)
        if os.path.islink(target):
            cmd += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            cmd += ["--ro-bind", target, target]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group"):
        if os.path.exists(etc):
            cmd += ["--ro-bind", etc, etc]
    for root in _python_roots():
        cmd += ["--ro-bind", root, root]
    if device.startswith("cuda"):
        for node in gpu_nodes():
            cmd += ["--dev-bind", node, node]
        if os.path.isdir("/sys"):
            cmd += ["--ro-bind", "/sys", "/sys"]
    cmd += ["--ro-bind", str(DRIVERS), SANDBOX_DRIVERS, "--bind", str(jobs_dir), SANDBOX_JOBS]
    cmd += ["--chdir", SANDBOX_JOBS, "--setenv", "HOME", SANDBOX_JOBS, "--unsetenv", "PYTHONPATH"]
    cmd += [sys.executable, "-I", f"{SANDBOX_DRIVERS}/zygote.py", "--sandboxed", *options]
    return cmd


# What CUDA opens: the control node, unified memory, each GPU, and MIG's capabilities. Not
# /dev/nvidia-modeset (the display) nor /dev/nvidia-uvm-tools (profilers).
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia[0-9]*", "/dev/nvidia-caps")


def gpu_nodes() -> list[str]:
    """The NVIDIA device nodes on this machine that the sandbox binds on ``--device cuda``."""
    return [node for pattern in GPU_NODES for node in sorted(glob.glob(pattern))]


def plain_command(options: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-I", str(DRIVERS / "zygote.py"), *options]


@functools.cache
def bwrap_works() -> bool:
    """True when bubblewrap is installed and can create its namespaces here."""
    if shutil.which("bwrap") is None:
        return False
    probe = [shutil.which("bwrap"), "--unshare-all", "--ro-bind", "/", "/", "--uid", "65534"]
    try:
        result = subprocess.run([*probe, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def choose(isolation: str) -> str:
    """Resolve ``auto`` to the strongest isolation available; refuse an unavailable one."""
    if isolation == "auto":
        return "bwrap" if bwrap_works() else "rlimits"
    if isolation == "bwrap" and not bwrap_works():
        raise RuntimeError(
            "bubblewrap is not available: install the Debian package `bubblewrap`, "
            "or pass --isolation rlimits to grade with resource limits only"
        )
    if isolation not in DESCRIPTIONS:
        raise ValueError(f"unknown isolation {isolation!r}: use auto, bwrap or rlimits")
    return isolation
