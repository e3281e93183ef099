"""A job's own namespaces (bubblewrap mode): what the zygote does, with the one capability
it keeps in the sandbox's user namespace, to give each submission a fresh mount, PID and
IPC namespace, a fresh ``/tmp`` and ``/dev/shm``, its job folder on ``/job`` and nothing
else of the jobs folder; and how it drops every capability before the student's code runs.
"""

import ctypes
import os
import select
import signal
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE, MS_REMOUNT = 4096, 16384, 1 << 18, 32
TMP_BYTES = 256 << 20
JOBS, JOB = "/jobs", "/job"
LIBC = ctypes.CDLL(None, use_errno=True)

# The helper's exit status when it could not make the job's namespaces (fail closed); 72 and
# 73 are drivers/gpu.py's.
EXIT_NO_NAMESPACES = 74


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target: str, fstype, flags: int, data=None) -> None:
    encode = lambda value: value.encode() if value is not None else None  # noqa: E731
    check(LIBC.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags),
                       encode(data)), f"mount {target}")  # fmt: skip


def drop_capabilities() -> None:
    """No capabilities at all, and none to be gained by exec."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]  # fmt: skip

    check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    check(LIBC.capset(ctypes.byref(header), data), "capset")


def become_subreaper() -> None:
    """Jobs started in namespaces of their own (their helper has exited) are ours to reap."""
    check(LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")


def drop_to(uid: int) -> None:
    """Run as root (rlimits mode): become ``uid`` for good, with no capabilities."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to a user: the kernel clears every capability
    check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def spawn(request: dict, progress: int, run) -> tuple[int, int]:
    """Start one job in fresh mount, PID and IPC namespaces: the pid (here) of the helper
    that watches it, and the pipe on which the helper reports how the student's process
    ended (once it and everything it started are gone). ``run(request, progress)`` runs
    the parts in the student's process (never returns)."""
    name = str(request.get("name", ""))
    if not name or "/" in name or name.startswith("."):
        raise OSError(22, "bad job name")
    report_r, report_w = os.pipe()
    helper = os.fork()
    if helper == 0:
        os.close(report_r)
        _helper(request, progress, report_w, name, run)
    os.close(report_w)
    return helper, report_r


def _helper(request: dict, progress: int, report: int, name: str, run) -> None:
    """New namespaces; their init, a tiny process (``sleep``: whatever it ignores, the
    namespace ends when it is killed); the student's process, forked from here (warm);
    when that ends, the init is killed (and with it everything left in the namespace) and
    the end is reported. Never returns."""
    try:
        check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        fresh_tmp()
        mount(f"{JOBS}/{name}", JOB, None, MS_BIND | MS_REC)
        mount("tmpfs", JOBS, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
        sleep = next(p for p in ("/usr/bin/sleep", "/bin/sleep") if os.path.exists(p))
        init = os.posix_spawn(sleep, ["sleep", "infinity"], {})  # pid 1: cheap, no fork
        student = os.fork()
        if student == 0:
            os.close(report)
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this job only
            drop_capabilities()
            run(request, progress)
        os.close(progress)
        _, status, usage = os.wait4(student, 0)
        os.kill(init, signal.SIGKILL)  # the namespace ends: every process left is killed
        os.waitpid(init, 0)  # returns once they are all gone
        os.write(report, f"{status} {usage.ru_utime + usage.ru_stime:.6f}\n".encode())
    except BaseException:  # noqa: BLE001
        os._exit(EXIT_NO_NAMESPACES)
    os._exit(0)


def python_roots() -> list[str]:
    """The Python installation's folders (the environment, its base, the interpreter's):
    what the sandbox mounts read-only, at the same paths inside as outside."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(roots)


def python_roots_in_tmp() -> list[str]:
    """The Python folders that lie under /tmp (a checkout or a virtual environment there,
    as in a CI clone): a fresh /tmp would hide them."""
    return [r for r in python_roots() if r.startswith("/tmp/")]


def fresh_tmp() -> None:
    """A fresh, size-limited /tmp and /dev/shm for this job. The Python folders under /tmp
    (read-only in the sandbox) are carried over: bound aside into a scratch tmpfs on
    /dev/shm, then back into the new /tmp, read-only, and the scratch is covered by the
    job's own /dev/shm."""
    options = f"size={TMP_BYTES},mode=1777"
    roots = python_roots_in_tmp()
    if roots:
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=700")
        for index, root in enumerate(roots):
            os.mkdir(f"/dev/shm/{index}")
            mount(root, f"/dev/shm/{index}", None, MS_BIND | MS_REC)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)
    for index, root in enumerate(roots):
        os.makedirs(root, mode=0o755)
        mount(f"/dev/shm/{index}", root, None, MS_BIND | MS_REC)
        mount(None, root, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, options)


def read_report(fd: int) -> tuple[int, float] | None:
    try:
        words = os.read(fd, 128).split() if select.select([fd], [], [], 0)[0] else []
        return (int(words[0]), float(words[1])) if len(words) == 2 else None
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
