"""Where the grading runs: a local pool of warm processes, or a Dask cluster.

Every pool offers the same things to :class:`autograder.course.batch.ClassGrader`:
``slots`` (how many submissions are graded at once), ``start()`` (begin warming up),
``submit(task)``, ``wait_first(futures)`` and ``result(future)``. Each worker process keeps
one warm grader per assignment (:mod:`autograder.course.worker`): torch is imported and the
sandbox's zygote started once per worker, not once per submission.

Dask (``distributed``) was chosen over Ray because it is pure Python and installs from PyPI
(no extra native runtime), its ``LocalCluster`` runs real worker processes in a test, and
its ``resources=`` annotations map tasks to GPUs: a worker started with
``--resources GPU=1`` runs only one task asking for ``{"GPU": 1}`` at a time.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import multiprocessing
import os
import sys
from multiprocessing.util import Finalize

from autograder.course.worker import GraderSettings, GradeTask, close_all, grade_task, warm
from autograder.grade import resolve_device

_FINALIZERS: list[Finalize] = []


def _start_worker(settings: GraderSettings) -> None:
    """Process-pool initializer: warm the grader, and stop its sandbox when the worker exits
    (multiprocessing ends its processes with ``os._exit``: atexit would not run)."""
    _FINALIZERS.append(Finalize(None, close_all, exitpriority=10))
    warm(settings)


class InlinePool:
    """Grade in this process, one submission at a time (``--workers 0``: for debugging, and
    for tests). Its grader stays warm for the next pool in this process until ``close``."""

    slots = 1

    def __init__(self, settings: GraderSettings):
        self.settings = settings

    def start(self) -> None:
        pass

    @staticmethod
    def submit(task: GradeTask) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(grade_task(task))
        except Exception as err:  # noqa: BLE001 - reported by the batch, as from a worker
            future.set_exception(err)
        return future

    @staticmethod
    def wait_first(futures):
        return list(futures)

    @staticmethod
    def result(future) -> dict:
        return future.result()

    def close(self) -> None:
        close_all()

    def __enter__(self) -> InlinePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _context():
    """Fork on Linux: a worker inherits torch and the grader's modules already imported
    (seconds saved per worker; nothing has run torch or opened the gradebook yet, as with
    PyTorch's DataLoader workers). Spawn elsewhere."""
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


class LocalPool:
    """``workers`` warm processes on this machine."""

    def __init__(self, settings: GraderSettings, workers: int):
        self.slots = max(1, workers)
        self.executor = concurrent.futures.ProcessPoolExecutor(
            self.slots,
            mp_context=_context(),
            initializer=_start_worker,
            initargs=(settings,),
        )

    def start(self) -> None:
        """Start every worker now: they warm up while the caller does other work."""
        for _ in range(self.slots):
            self.executor.submit(os.getpid)

    def submit(self, task: GradeTask):
        return self.executor.submit(grade_task, task)

    @staticmethod
    def wait_first(futures):
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        return done

    @staticmethod
    def result(future) -> dict:
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def gpu_resources(device: str, worker_resources: list[dict]) -> dict | None:
    """The ``resources=`` each task asks for: one GPU when grading on CUDA.

    ``device="auto"`` asks for a GPU when the cluster's workers advertise one; ``"cuda"``
    always does (and then waits for a worker started with ``--resources GPU=1``)."""
    if device.startswith("cuda"):
        return {"GPU": 1}
    if device == "auto" and any(r.get("GPU", 0) >= 1 for r in worker_resources):
        return {"GPU": 1}
    return None


class DaskPool:
    """Tasks on a Dask cluster: ``"local-cluster"`` starts one here (``workers`` processes,
    one thread each); any other string is a scheduler address (``tcp://host:8786``)."""

    def __init__(self, settings: GraderSettings, scheduler: str, workers: int = 2):
        from distributed import Client, LocalCluster
        from distributed.diagnostics.plugin import WorkerPlugin

        class StopGraders(WorkerPlugin):
            """On worker shutdown, stop the warm graders' sandboxes."""

            name = "dlf-stop-graders"

            def teardown(self, worker) -> None:
                close_all()

        self.cluster = None
        if scheduler == "local-cluster":
            # On a GPU, every local worker declares one (they share it; see shared_gpu).
            gpu = resolve_device(settings.device).startswith("cuda")
            self.cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                resources={"GPU": 1} if gpu else None,
            )
            self.client = Client(self.cluster)
        else:
            self.client = Client(scheduler)
        self.client.register_plugin(StopGraders())
        info = self.client.scheduler_info()["workers"].values()
        self.slots = max(1, sum(w.get("nthreads", 1) for w in info))
        self.resources = gpu_resources(settings.device, [w.get("resources", {}) for w in info])

    def start(self) -> None:
        pass  # Dask workers are already running; each warms its grader on its first task

    def submit(self, task: GradeTask):
        return self.client.submit(grade_task, task, pure=False, resources=self.resources)

    @staticmethod
    def wait_first(futures):
        from distributed import wait

        return wait(futures, return_when="FIRST_COMPLETED").done

    @staticmethod
    def result(future) -> dict:
        return future.result()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# The share of a GPU's memory the grading children on one machine may cache together (the
# rest: each process's CUDA context, and room for fragmentation).
GPU_MEMORY_SHARE = 0.8


def shared_gpu(settings: GraderSettings, scheduler: str, workers: int) -> GraderSettings:
    """``settings`` with each child's share of the GPU's memory, when ``workers`` processes
    on this machine grade on one GPU at once (a local pool or a local Dask cluster); a
    remote cluster's workers are assumed to have a GPU each (``--resources GPU=1``)."""
    if settings.device == "cpu" or settings.gpu_memory_fraction is not None or workers < 2:
        return settings
    if scheduler not in ("local", "local-cluster"):
        return settings
    return dataclasses.replace(settings, gpu_memory_fraction=GPU_MEMORY_SHARE / workers)


def make_pool(settings: GraderSettings, scheduler: str = "local", workers: int = 2):
    """``local``: a process pool (``workers=0``: this process); ``local-cluster`` or an
    address: Dask."""
    settings = shared_gpu(settings, scheduler, workers)
    if scheduler == "local":
        return LocalPool(settings, workers) if workers > 0 else InlinePool(settings)
    return DaskPool(settings, scheduler, workers)
