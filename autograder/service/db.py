"""The service's database: one table of submissions, their state, phases and results.

SQLite by default (any SQLAlchemy URL works: PostgreSQL the same), its schema made and
upgraded by alembic (the scripts in ``migrations/``). Every change of state is one
transaction whose ``UPDATE ... WHERE state = <expected>`` only one process can win: a
submission is claimed once, its result recorded once, and after a crash (``kill -9``) the
submissions left ``running`` go back to the queue (their result was never recorded).

States: ``queued`` -> ``running`` -> ``graded`` | ``ungradable`` | ``failed`` (the grading
machinery failed three times; the submission is not counted against its author).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FINISHED = ("graded", "ungradable", "failed")
MAX_ATTEMPTS = 3


class Base(DeclarativeBase):
    pass


class Submission(Base):
    """One uploaded notebook. ``id`` is public and unguessable (results are linkable, not
    listable); ``seq`` orders the queue."""

    __tablename__ = "submissions"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    assignment: Mapped[str] = mapped_column(String(64))
    parts: Mapped[str] = mapped_column(String(16), default="all")  # "all" or "quick"
    filename: Mapped[str] = mapped_column(String(128))
    notebook: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(128))
    student: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # GradeResult JSON
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # machinery failure
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't wait for the dispatcher
    cursor.execute("PRAGMA synchronous=FULL")  # a 202 means the row is on disk
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The state transitions of submissions, each in its own transaction."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def add(self, **fields) -> Submission:
        """Store a new submission (queued); committed when this returns."""
        row = Submission(id=secrets.token_hex(16), state="queued", queued_at=now(), **fields)
        with self.session() as session:
            session.add(row)
        return row

    def get(self, submission_id: str) -> Submission | None:
        with self.session() as session:
            return session.scalar(select(Submission).where(Submission.id == submission_id))

    def claim_next(self) -> Submission | None:
        """The oldest queued submission, now ``running`` (None when the queue is empty)."""
        with self.session() as session:
            for seq in session.scalars(
                select(Submission.seq)
                .where(Submission.state == "queued")
                .order_by(Submission.seq)
                .limit(5)
            ):
                won = session.execute(
                    update(Submission)
                    .where(Submission.seq == seq, Submission.state == "queued")
                    .values(state="running", started_at=now(), attempts=Submission.attempts + 1)
                ).rowcount
                if won:
                    return session.scalar(select(Submission).where(Submission.seq == seq))
        return None

    def finish(self, submission_id: str, state: str, result_json: str) -> bool:
        """Record the result of a running submission; False if it was not running."""
        with self.session() as session:
            return bool(
                session.execute(
                    update(Submission)
                    .where(Submission.id == submission_id, Submission.state == "running")
                    .values(state=state, result=result_json, finished_at=now())
                ).rowcount
            )

    def fail(self, submission_id: str, error: str) -> str:
        """The machinery failed on a running submission: back to the queue, or ``failed``
        after :data:`MAX_ATTEMPTS`. Returns the new state."""
        with self.session() as session:
            row = session.scalar(select(Submission).where(Submission.id == submission_id))
            if row is None or row.state != "running":
                return row.state if row else "missing"
            if row.attempts >= MAX_ATTEMPTS:
                row.state, row.error, row.finished_at = "failed", error, now()
            else:
                row.state, row.error, row.started_at = "queued", error, None
            return row.state

    def requeue_interrupted(self) -> int:
        """After a restart: every ``running`` submission goes back to the queue."""
        with self.session() as session:
            return session.execute(
                update(Submission)
                .where(Submission.state == "running")
                .values(state="queued", started_at=None)
            ).rowcount

    def counts(self) -> dict[str, int]:
        with self.session() as session:
            rows = session.execute(
                select(Submission.state, func.count()).group_by(Submission.state)
            )
            return {state: n for state, n in rows}

    def position(self, row: Submission) -> int:
        """How many queued submissions are ahead of ``row`` (0: it is next)."""
        with self.session() as session:
            return session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.state == "queued", Submission.seq < row.seq)
            )

    def recent_seconds(self, limit: int = 20) -> list[float]:
        """Grading times (started -> finished) of the last graded submissions."""
        with self.session() as session:
            rows = session.execute(
                select(Submission.started_at, Submission.finished_at)
                .where(Submission.state == "graded", Submission.started_at.is_not(None))
                .order_by(Submission.seq.desc())
                .limit(limit)
            )
            return [(aware(b) - aware(a)).total_seconds() for a, b in rows if a and b]

    def purge_notebooks(self, older_than: timedelta) -> int:
        """Retention: forget the notebooks of submissions finished before ``older_than``
        ago (their results stay)."""
        cutoff = now() - older_than
        with self.session() as session:
            return session.execute(
                update(Submission)
                .where(
                    Submission.state.in_(FINISHED),
                    Submission.finished_at < cutoff,
                    Submission.notebook.is_not(None),
                )
                .values(notebook=None)
            ).rowcount

    def close(self) -> None:
        self.engine.dispose()
