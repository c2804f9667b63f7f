"""Temporary passwords: an administrator's password reset makes the user choose a new password at next sign-in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (with a default, so existing rows are valid) works in place on SQLite and PostgreSQL.
    # Not batch mode: on SQLite that copies and drops `users`, which foreign keys from tokens and sessions forbid.
    op.add_column("users", sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("users", "must_change_password")  # SQLite >= 3.35
