"""Which isolation is available here, and the command line that applies it.

``bwrap`` (Debian package ``bubblewrap``): new mount, PID, network, IPC, UTS and user
namespaces; the system and the Python environment read-only, the sandbox's own root
read-only too; no network; nothing of the course checkout (solutions, hidden tests,
gradebook) mounted; no new user namespaces inside. The zygote keeps one capability in its
own user namespace (``CAP_SYS_ADMIN``, worthless outside it) to give every submission
fresh namespaces of its own (see :mod:`autograder.drivers.zygote`); the student's code
runs with none.

``rlimits``: resource limits only; weaker, and only when asked for by name: ``auto``
refuses to grade where bubblewrap does not work.

Run as root, both start the sandbox as an unprivileged host user (:data:`SANDBOX_UID`),
so that the kernel applies the process limit and nothing root-only is reachable.
"""

from __future__ import annotations

import functools
import glob
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.drivers.namespaces import python_roots

DRIVERS = Path(__file__).resolve().parent.parent / "drivers"
SANDBOX_DRIVERS = "/grader/drivers"
SANDBOX_JOBS = "/jobs"  # the trusted side's jobs folder (hidden from the student's code)
SANDBOX_JOB = "/job"  # where one submission's folder appears, in its own mount namespace
SANDBOX_UID = 65534  # nobody: the host user the student's code runs as when we are root
TMP_BYTES = 256 << 20  # /tmp and /dev/shm of one submission

DESCRIPTIONS = {
    "bwrap": "bubblewrap: private mount, PID, network and user namespaces, fresh for every "
    "submission; read-only system; no network; no view of the course files; CPU, memory, "
    "process and time limits",
    "rlimits": "weak isolation (resource limits only, asked for with --isolation rlimits): the "
    "submission could read files and use the network, and what it leaves behind may be seen "
    "by the next submission; install bubblewrap (Debian package `bubblewrap`) for real "
    "isolation",
}
WEAK_WARNING = "WARNING: " + DESCRIPTIONS["rlimits"]
NOT_AVAILABLE = (
    "bubblewrap is not available here (or cannot create its namespaces): install the Debian "
    "package `bubblewrap` (apt-get install bubblewrap) and allow unprivileged user "
    "namespaces; or, knowing that a submission could then read files and use the network, "
    "pass --isolation rlimits"
)


def as_root() -> bool:
    return os.geteuid() == 0


def sandbox_uid() -> int:
    """The host uid the student's code runs as."""
    return SANDBOX_UID if as_root() else os.getuid()


def python_executable() -> str:
    """The interpreter, as a path inside the resolved environment (a venv reached through
    a symlink is mounted at its real path)."""
    candidate = os.path.join(os.path.realpath(sys.prefix), "bin", os.path.basename(sys.executable))
    return candidate if os.path.exists(candidate) else os.path.realpath(sys.executable)


def _drop_privileges() -> list[str]:
    """The prefix that runs a command as :data:`SANDBOX_UID` with no capabilities (root
    only; otherwise nothing)."""
    if not as_root():
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FileNotFoundError("setpriv (util-linux) is needed to drop root privileges")
    uid = str(SANDBOX_UID)
    return [setpriv, "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all"]  # fmt: skip


def _staged(root: str, stage: Path) -> str:
    return str(stage / root.lstrip("/"))


def launcher(stage: Path, roots: list[str]) -> list[str]:
    """Run as root: a private mount namespace in which each python root is also bind-mounted
    under ``stage`` (a folder the unprivileged user can reach: the originals may sit under
    ``/root``), then drop to the sandbox user."""
    if not as_root():
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise FileNotFoundError("unshare (util-linux) is needed to run the sandbox as root")
    script = []
    for root in roots:
        target = _staged(root, stage)
        script.append(f"mkdir -p {shlex.quote(target)} && mount --bind -o ro "
                      f"{shlex.quote(root)} {shlex.quote(target)}")  # fmt: skip
    script.append('exec "$@"')
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", " && ".join(script), "sh"]


def bwrap_command(
    jobs_dir: Path, device: str, options: tuple[str, ...] = (), stage: Path | None = None
) -> list[str]:
    """The command line that starts the zygote in bubblewrap over ``jobs_dir`` (``options``:
    the zygote's, e.g. ``--warm-optimizers``; ``stage``: where the python roots are staged
    when running as root, see :func:`launcher`)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    roots = python_roots()
    stage = stage or jobs_dir.parent / "stage"
    cmd = launcher(stage, roots) + _drop_privileges()
    cmd += [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    cmd += ["--disable-userns"] if disables_userns() else []
    cmd += ["--cap-add", "CAP_SYS_ADMIN"]
    cmd += ["--uid", "65534", "--gid", "65534", "--hostname", "sandbox"]
    cmd += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    cmd += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    for link in ("bin", "lib", "lib64", "lib32", "sbin"):
        target = os.path.join("/", link)
        if os.path.islink(target):
            cmd += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            cmd += ["--ro-bind", target, target]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group"):
        if os.path.exists(etc):
            cmd += ["--ro-bind", etc, etc]
    for root in roots:
        cmd += ["--ro-bind", _staged(root, stage) if as_root() else root, root]
    if device.startswith("cuda"):
        for node in gpu_nodes():
            cmd += ["--dev-bind", node, node]
        if os.path.isdir("/sys"):
            cmd += ["--ro-bind", "/sys", "/sys"]
    cmd += ["--ro-bind", str(DRIVERS), SANDBOX_DRIVERS, "--bind", str(jobs_dir), SANDBOX_JOBS]
    cmd += ["--dir", SANDBOX_JOB, "--remount-ro", "/dev", "--remount-ro", "/"]
    cmd += ["--chdir", "/", "--setenv", "HOME", SANDBOX_JOB, "--unsetenv", "PYTHONPATH"]
    cmd += [python_executable(), "-I", f"{SANDBOX_DRIVERS}/zygote.py", "--sandboxed", *options]
    return cmd


# What CUDA opens: the control node, unified memory, each GPU, and MIG's capabilities. Not
# /dev/nvidia-modeset (the display) nor /dev/nvidia-uvm-tools (profilers).
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia[0-9]*", "/dev/nvidia-caps")


def gpu_nodes() -> list[str]:
    """The NVIDIA device nodes on this machine that the sandbox binds on ``--device cuda``."""
    return [node for pattern in GPU_NODES for node in sorted(glob.glob(pattern))]


def plain_command(options: tuple[str, ...] = ()) -> list[str]:
    """The zygote under resource limits only. Run as root, it starts as root (the
    interpreter may live where only root can read) and drops to :data:`SANDBOX_UID`, with
    no capabilities, as soon as torch is imported, before it forks any child."""
    drop = ["--drop-to", str(SANDBOX_UID)] if as_root() else []
    return [python_executable(), "-I", str(DRIVERS / "zygote.py"), *drop, *options]


@functools.cache
def disables_userns() -> bool:
    """Whether this bubblewrap can forbid new user namespaces inside (0.8 and later)."""
    try:
        usage = subprocess.run([shutil.which("bwrap") or "bwrap", "--help"], capture_output=True,
                               text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disable-userns" in usage.stdout + usage.stderr


@functools.cache
def bwrap_works() -> bool:
    """True when bubblewrap is installed and can create its namespaces here (as the user
    the sandbox would run as)."""
    if shutil.which("bwrap") is None:
        return False
    try:
        userns = ["--disable-userns"] if disables_userns() else []
        probe = [*_drop_privileges(), shutil.which("bwrap"), "--unshare-all", "--unshare-user",
                 *userns, "--cap-add", "CAP_SYS_ADMIN", "--ro-bind", "/", "/",
                 "--uid", "65534", "true"]  # fmt: skip
        result = subprocess.run(probe, capture_output=True, timeout=20, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def choose(isolation: str) -> str:
    """Resolve ``auto`` to bubblewrap, refusing to grade where it does not work; weaker
    isolation only when asked for by name."""
    if isolation not in (*DESCRIPTIONS, "auto"):
        raise ValueError(f"unknown isolation {isolation!r}: use auto, bwrap or rlimits")
    if isolation in ("auto", "bwrap") and not bwrap_works():
        raise RuntimeError(NOT_AVAILABLE)
    return "bwrap" if isolation == "auto" else isolation


def limits_note(isolation: str) -> str:
    """What was in force, in a line for every result (cgroups v2 where the machine offers a
    writable hierarchy; the note says so where it does not)."""
    uid = sandbox_uid()
    who = f"host uid {uid}" + (" (not root)" if as_root() else "")
    base = f"{isolation}; student code ran as {who} with no capabilities"
    base += "; limits: CPU time, address space, processes, file size, wall clock (rlimits)"
    return base + "; cgroups v2 limits: not in force (" + cgroup_v2_status() + ")"


@functools.cache
def cgroup_v2_status() -> str:
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    if not controllers.exists():
        return "this machine has no unified cgroup v2 hierarchy"
    if not os.access("/sys/fs/cgroup", os.W_OK):
        return "the cgroup v2 hierarchy is not writable here"
    return "not configured by the grader; the rlimits above apply"
