"""alembic environment: run with the connection :func:`autograder.service.db.migrate` gives."""

from alembic import context

from autograder.service.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
