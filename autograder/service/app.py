"""The HTTP API (FastAPI): submit a notebook, poll its result, list assignments, health.

``POST /api/assignments/{id}/submissions`` takes a notebook (a multipart upload in the field
``file``, or the notebook's JSON as the body), checks it is a readable notebook, stores it
and its row, and only then answers 202 with the submission's ``id`` and the ``url`` to poll.
``GET /api/submissions/{id}`` (``?wait=S``: wait up to S seconds for the result) gives its
state, the time of each phase, its place in the queue and, once graded, the same result
``python -m autograder grade`` reports for the file (``result``: its JSON; ``text``: its
report). ``GET /submissions/{id}`` is that as a page.

Refusals say why: 413 too large, 422 not a notebook, 404 unknown assignment, 401 unknown
course token, 429 too many attempts (``Retry-After``), 503 queue full (``Retry-After``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from autograder import assignments
from autograder.notebook import NotebookError, grade_cells, read_cells
from autograder.result import GradeResult
from autograder.service import pages
from autograder.service.db import FINISHED, Store, Submission, aware, now
from autograder.service.dispatch import Dispatcher, quick_parts
from autograder.service.ratelimit import RateLimits

NOTEBOOK_TYPES = ("application/json", "application/x-ipynb+json")
MAX_WAIT_S = 30.0  # the longest a poll may wait for a result
SAFE_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass
class ServiceConfig:
    max_upload_bytes: int = 5 * 2**20
    max_queue: int = 200  # queued submissions; beyond it, 503
    attempts: str = "10/minute"  # accepted submissions per client
    requests: str = "60/minute"  # upload requests per client, accepted or not
    allow_origins: list[str] = field(default_factory=list)  # the book's origin
    tokens: dict[str, str] = field(default_factory=dict)  # sha256(token) -> student


def read_tokens(path: str | Path) -> dict[str, str]:
    """Course tokens from a file of ``student token`` lines (``#`` comments): kept hashed."""
    tokens = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            student, token = line.split()
            tokens[hashlib.sha256(token.encode()).hexdigest()] = student
    return tokens


def refuse(status: int, reason: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": reason}, status_code=status, headers=headers)


def safe_filename(name: str | None, assignment_id: str) -> str:
    base = Path(name or "").name
    base = "".join(c if c in SAFE_NAME else "_" for c in base)[:100]
    return base if base.endswith(".ipynb") and len(base) > 6 else f"{assignment_id}.ipynb"


def check_notebook(data: bytes) -> str | None:
    """Why ``data`` is not a readable notebook, or None (read as ``grade`` reads it)."""
    with tempfile.TemporaryDirectory(prefix="dlf-upload-") as tmp:
        path = Path(tmp) / "upload.ipynb"
        path.write_bytes(data)
        try:
            read_cells(path)
        except NotebookError as err:
            return str(err).replace(f"{path}: ", "")
        except (RecursionError, MemoryError, ValueError) as err:  # e.g. JSON nested 10^5 deep
            return f"not a readable notebook ({type(err).__name__})"
    return None


def iso(moment: datetime | None) -> str | None:
    return aware(moment).isoformat() if moment is not None else None


def assignment_listing() -> list[dict]:
    listing = []
    for assignment in assignments.all_assignments():
        points = {c.grade_id: c.points for c in grade_cells(read_cells(assignment.source_path))}
        quick = quick_parts(assignment.id)
        parts = [
            {"id": p.id, "title": p.title, "points": points.get(p.id, 0.0), "quick": p.id in quick}
            for p in assignment.parts
        ]
        listing.append({"id": assignment.id, "notebook": assignment.notebook, "parts": parts})
    return listing


def create_app(store: Store, dispatcher: Dispatcher, config: ServiceConfig) -> FastAPI:
    app = FastAPI(
        title="Deep Learning Foundations autograder",
        summary="Submit an exercise notebook; read per-part feedback.",
        version="1",
    )
    if config.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.allow_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "Location"],
        )
    limits = RateLimits(config.attempts, config.requests)
    admission = asyncio.Lock()
    listing = assignment_listing()
    known = {a["id"]: a for a in listing}

    def describe(row: Submission) -> dict:
        body = {
            "id": row.id,
            "assignment": row.assignment,
            "filename": row.filename,
            "state": row.state,
            "parts_graded": row.parts,
            "url": f"/api/submissions/{row.id}",
            "page": f"/submissions/{row.id}",
            "phases": {
                "received": iso(row.received_at),
                "queued": iso(row.queued_at),
                "started": iso(row.started_at),
                "finished": iso(row.finished_at),
            },
            "parts": [
                {"id": p["id"], "title": p["title"], "max_points": p["points"]}
                for p in known[row.assignment]["parts"]
                if row.parts == "all" or p["quick"]
            ],
        }
        if row.state == "queued":
            ahead = store.position(row)
            body["position"] = ahead + 1
            body["expected_wait_seconds"] = dispatcher.expected_wait(ahead)
        elif row.state == "running":
            body["position"] = 0
            body["expected_wait_seconds"] = dispatcher.expected_wait(0)
        if row.state in FINISHED and row.result:
            result = json.loads(row.result)
            body["result"] = result
            body["text"] = GradeResult.from_dict(result).to_text()
        if row.state == "failed":
            body["error"] = "the grading machinery failed on this submission; it was not graded"
        return body

    @app.get("/healthz")
    def healthz() -> dict:
        counts = store.counts()
        return {
            "status": "ok",
            "isolation": "bwrap",
            "workers": dispatcher.slots,
            "queued": counts.get("queued", 0),
            "running": counts.get("running", 0),
            "max_queue": config.max_queue,
            "expected_seconds": round(dispatcher.expected_seconds(), 2),
        }

    @app.get("/api/assignments")
    def list_assignments() -> list[dict]:
        return listing

    @app.post("/api/assignments/{assignment_id}/submissions", status_code=202)
    async def submit(
        request: Request,
        assignment_id: Annotated[str, PathParam(max_length=64)],
        authorization: Annotated[str | None, Header()] = None,
        parts: str = "all",
    ):
        received = now()
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > config.max_upload_bytes:
            return refuse(413, f"the upload is larger than {config.max_upload_bytes} bytes")
        if assignment_id not in known:
            return refuse(404, f"unknown assignment {assignment_id!r}; known: {', '.join(known)}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > config.max_upload_bytes:
                return refuse(413, f"the upload is larger than {config.max_upload_bytes} bytes")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        token, filename, data = None, None, bytes(body)
        if kind == "multipart/form-data":
            form = await _parse_form(request, bytes(body), config.max_upload_bytes)
            if isinstance(form, JSONResponse):
                return form
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                return refuse(422, "no notebook: send it in the form field `file`")
            data, filename = await upload.read(), upload.filename
            token = form.get("token") if isinstance(form.get("token"), str) else None
            parts = form.get("parts") if isinstance(form.get("parts"), str) else parts
        elif kind not in NOTEBOOK_TYPES:
            return refuse(415, "send a notebook: multipart/form-data or application/json")
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        student = None
        if token:
            student = config.tokens.get(hashlib.sha256(token.encode()).hexdigest())
            if student is None:
                return refuse(401, "unknown course token: check it, or submit without one")
        if parts not in ("all", "quick"):
            return refuse(422, "parts must be `all` or `quick` (all but the training parts)")
        client = f"student:{student}" if student else f"ip:{request.client.host}"
        wait = limits.request(client)
        if wait is not None:
            return refuse(429, "too many uploads: wait before sending more", wait)
        problem = await run_in_threadpool(check_notebook, data)
        if problem:
            return refuse(422, f"not a notebook this grader can read: {problem}")
        async with admission:  # counting attempts and the queue, then joining it: one at a time
            wait = limits.check_attempt(client)
            if wait is not None:
                why = f"too many submissions (limit {config.attempts}): retry later"
                return refuse(429, why, wait)
            queued = (await run_in_threadpool(store.counts)).get("queued", 0)
            if queued >= config.max_queue:
                wait = int(dispatcher.expected_wait(queued)) + 1
                return refuse(503, "the grading queue is full: try again later", wait)
            row = await run_in_threadpool(
                store.add,
                assignment=assignment_id,
                parts=parts,
                filename=safe_filename(filename, assignment_id),
                notebook=data,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                client=client[:128],
                student=student,
                received_at=received,
            )
            limits.count_attempt(client)
        dispatcher.wake()
        described = await run_in_threadpool(describe, row)
        return JSONResponse(described, status_code=202, headers={"Location": described["url"]})

    def _find(submission_id: str) -> Submission:
        row = store.get(submission_id) if len(submission_id) <= 64 else None
        if row is None:
            raise HTTPException(404, "no such submission")
        return row

    waiters: dict[str, list[asyncio.Event]] = {}
    loop: list[asyncio.AbstractEventLoop] = []

    def finished(submission_id: str) -> None:  # the dispatcher's thread
        if loop and submission_id in waiters:
            for waiter in waiters[submission_id]:
                loop[0].call_soon_threadsafe(waiter.set)

    dispatcher.listeners.append(finished)

    @app.get("/api/submissions/{submission_id}")
    async def submission(
        submission_id: str, wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0
    ) -> dict:
        """The submission's state and, once finished, its result. ``wait``: seconds to
        wait for the result (long polling) before answering with the state."""
        row = await run_in_threadpool(_find, submission_id)
        if wait and row.state not in FINISHED:
            if not loop:
                loop.append(asyncio.get_running_loop())
            event = asyncio.Event()
            waiters.setdefault(submission_id, []).append(event)
            try:
                row = await run_in_threadpool(_find, submission_id)  # finished meanwhile?
                if row.state not in FINISHED:
                    await asyncio.wait_for(event.wait(), wait)
            except TimeoutError:
                pass
            finally:
                waiters[submission_id].remove(event)
                if not waiters[submission_id]:
                    del waiters[submission_id]
            row = await run_in_threadpool(_find, submission_id)
        return await run_in_threadpool(describe, row)

    @app.get("/submissions/{submission_id}", response_class=HTMLResponse)
    def submission_page(submission_id: str) -> str:
        return pages.submission_page(describe(_find(submission_id)))

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return pages.home_page(listing)

    return app


async def _parse_form(request: Request, body: bytes, limit: int):
    async def stream():
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=1, max_fields=4, max_part_size=limit
    )
    try:
        return await parser.parse()
    except MultiPartException as err:
        return refuse(422, f"not a readable upload: {err.message}")
