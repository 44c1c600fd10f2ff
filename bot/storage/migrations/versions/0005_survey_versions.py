"""survey versions: drafts, frozen published versions and their publications

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "survey_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("language_files", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.Column("updated_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("survey_id"),
    )
    op.create_table(
        "survey_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("language_files", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=True),
        _when("created_at"),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("survey_id", "version"),
    )
    op.create_index("ix_survey_versions_hash", "survey_versions", ["survey_id", "content_hash"])
    op.create_table(
        "survey_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _when("published_at"),
        sa.Column("published_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_survey_publications_survey_id", "survey_publications", ["survey_id"])


def downgrade() -> None:
    op.drop_index("ix_survey_publications_survey_id", table_name="survey_publications")
    op.drop_table("survey_publications")
    op.drop_index("ix_survey_versions_hash", table_name="survey_versions")
    op.drop_table("survey_versions")
    op.drop_table("survey_drafts")
