"""``python -m autograder serve``: the grading service in one command.

It refuses to start without working bubblewrap (a public service never grades with weaker
isolation), brings the database to the newest schema, puts back in the queue whatever a
killed run left running, starts the warm workers, then serves HTTP with uvicorn until
SIGTERM or Ctrl-C (then it finishes nothing new and stops the workers).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import timedelta

EXIT_OK, EXIT_USAGE = 0, 2


def add_verb(verbs) -> None:
    serve = verbs.add_parser("serve", help="run the grading service (HTTP API and pages)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8750, help="port (default 8750)")
    serve.add_argument(
        "--db", default="sqlite:///grading-service.sqlite", help="SQLAlchemy database URL"
    )
    serve.add_argument("--workers", type=int, default=2, help="grading processes (default 2)")
    serve.add_argument(
        "--scheduler",
        default="local",
        help="local (processes here), local-cluster, or a Dask scheduler address",
    )
    serve.add_argument("--device", default="auto", help="auto, cpu or cuda")
    serve.add_argument(
        "--warm",
        default="collab",
        help="what the workers warm up for first: an assignment, or <assignment>:quick "
        "(its parts but the training)",
    )
    serve.add_argument("--max-upload-kb", type=int, default=5120, help="upload size limit")
    serve.add_argument("--max-queue", type=int, default=200, help="queued submissions at most")
    serve.add_argument("--rate", default="10/minute", help="accepted submissions per client")
    serve.add_argument("--request-rate", default="60/minute", help="uploads per client")
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        help="the book's origin, e.g. https://book.example.org (repeatable; CORS)",
    )
    serve.add_argument("--tokens", help="course tokens: a file of `student token` lines")
    serve.add_argument("--course", help="nbgrader course folder: token results go to its gradebook")
    serve.add_argument("--course-db", help="the course gradebook's URL (default: the course's)")
    serve.add_argument(
        "--retention-days",
        type=float,
        default=30.0,
        help="delete notebooks this long after grading (results stay); negative: keep",
    )
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1", help="trusted proxies")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from autograder.sandbox.isolation import bwrap_works

    if not bwrap_works():
        print(
            "error: bubblewrap does not work here; the grading service never grades without "
            "it (install the Debian package `bubblewrap`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    import uvicorn

    from autograder import assignments
    from autograder.service.app import ServiceConfig, create_app, read_tokens
    from autograder.service.db import Store, migrate
    from autograder.service.dispatch import Dispatcher, DispatchSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        assignments.get(args.warm.partition(":")[0])
        tokens = read_tokens(args.tokens) if args.tokens else {}
    except (KeyError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    store = Store(args.db)
    migrate(store.engine)
    retention = None if args.retention_days < 0 else timedelta(days=args.retention_days)
    dispatcher = Dispatcher(
        store,
        DispatchSettings(
            args.device, args.workers, args.scheduler, args.warm, retention, args.course,
            args.course_db,
        ),
    )  # fmt: skip
    config = ServiceConfig(
        max_upload_bytes=args.max_upload_kb * 1024,
        max_queue=args.max_queue,
        attempts=args.rate,
        requests=args.request_rate,
        allow_origins=args.allow_origin,
        tokens=tokens,
    )
    dispatcher.start()  # forks the workers before the server opens its socket
    try:
        app = create_app(store, dispatcher, config)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
            log_level="warning",
        )
    finally:
        dispatcher.stop()
        store.close()
    return EXIT_OK
