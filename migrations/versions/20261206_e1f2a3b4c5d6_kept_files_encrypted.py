"""kept census files encrypted at rest and purged (reserved for issue 17 item 1)

upload.content_key_id names the key a kept file is encrypted under; upload.content_purged_at says
when the file was deleted after the retention period. Every file kept so far (plain bytes) is
encrypted here under the app's current key, one file at a time; on SQLite with secure_delete on,
so the plain bytes are overwritten in the database file rather than left in its free pages.

Revision ID: e1f2a3b4c5d6
Revises: d4e5f6a7b8c9
Create Date: 2026-12-06 22:10:00
"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

import billing_core.db

revision = "e1f2a3b4c5d6"
down_revision = "d4e5f6a7b8c9"
branch_labels = None
depends_on = None

_upload = sa.table(
    "upload",
    sa.column("id", sa.Integer),
    sa.column("content", sa.LargeBinary),
    sa.column("content_key_id", sa.String),
)
_BATCH = 200  # ids read per query; each file is read, encrypted and written on its own


def upgrade() -> None:
    with op.batch_alter_table("upload") as batch:
        batch.add_column(sa.Column("content_key_id", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("content_purged_at", billing_core.db.UTCDateTime(), nullable=True)
        )
    connection = op.get_bind()
    vault = _vault()
    with _overwriting_freed_pages(connection):
        for upload_id in _ids(connection, _upload.c.content_key_id.is_(None)):
            data = connection.scalar(sa.select(_upload.c.content).where(_upload.c.id == upload_id))
            kid, sealed = vault.seal_file(data)
            del data
            connection.execute(
                _upload.update()
                .where(_upload.c.id == upload_id)
                .values(content=sealed, content_key_id=kid)
            )


def downgrade() -> None:
    """The files decrypted again (the schema before kept them plain) and SSN tokens without
    their key id (it read them with SSN_ENCRYPTION_KEY alone): run it with every key the data
    is under configured. Purged files stay deleted."""
    connection = op.get_bind()
    vault = _vault()
    for upload_id in _ids(connection, _upload.c.content_key_id.is_not(None)):
        row = connection.execute(
            sa.select(_upload.c.content, _upload.c.content_key_id).where(_upload.c.id == upload_id)
        ).one()
        connection.execute(
            _upload.update()
            .where(_upload.c.id == upload_id)
            .values(content=vault.open_file(row.content, row.content_key_id))
        )
    current = vault._fernet()
    for name in ("member", "dependent"):
        table = sa.table(name, sa.column("id", sa.Integer), sa.column("ssn_encrypted", sa.String))
        rows = connection.execute(
            sa.select(table.c.id, table.c.ssn_encrypted).where(table.c.ssn_encrypted.like("%:%"))
        ).all()
        for row_id, token in rows:
            plain = current.encrypt(vault.decrypt(token).encode()).decode()
            connection.execute(
                table.update().where(table.c.id == row_id).values(ssn_encrypted=plain)
            )
    with op.batch_alter_table("upload") as batch:
        batch.drop_column("content_purged_at")
        batch.drop_column("content_key_id")


def _vault():
    """The app's vault (`flask db upgrade` configured it from SSN_ENCRYPTION_KEY and
    SSN_ENCRYPTION_OLD_KEYS; the alembic command reads them from the environment)."""
    from billing_core.security import app_vault

    return app_vault()


def _ids(connection, condition) -> list[int]:
    """The ids of the uploads holding a file that meet `condition`, in batches of _BATCH."""
    ids: list[int] = []
    last = 0
    while True:
        batch = list(
            connection.scalars(
                sa.select(_upload.c.id)
                .where(_upload.c.id > last, _upload.c.content.is_not(None), condition)
                .order_by(_upload.c.id)
                .limit(_BATCH)
            )
        )
        if not batch:
            return ids
        ids += batch
        last = batch[-1]


@contextmanager
def _overwriting_freed_pages(connection):
    """SQLite overwrites what it frees with zeros meanwhile (PostgreSQL: VACUUM reclaims the
    old row versions, see the README)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA secure_delete").scalar()
    connection.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA secure_delete = {int(before)}")
