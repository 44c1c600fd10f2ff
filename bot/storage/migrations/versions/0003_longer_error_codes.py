"""longer error codes: our own reasons (e.g. outside_24h_window) exceed 16 characters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 06:12:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("error_code", existing_type=sa.String(length=16),
                              type_=sa.String(length=32), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("error_code", existing_type=sa.String(length=32),
                              type_=sa.String(length=16), existing_nullable=True)
