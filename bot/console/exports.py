"""Downloads of the answers under the current filters, as CSV, Excel or JSON, each one audited
(who, when, which filters, how many conversations) before the first byte leaves."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func, select

from bot import export
from bot.console import audit
from bot.console.audit import Actor
from bot.console.filters import Filters
from bot.console.queries import Shown
from bot.storage.db import Database
from bot.storage.tables import Conversation
from bot.survey.flow import Survey


def filename(survey: Survey, fmt: str) -> str:
    return f"{survey.id}-answers-{datetime.now(UTC):%Y%m%d-%H%M}.{fmt}"


def export_response(db: Database, survey: Survey, questions: list[Shown], filters: Filters,
                    fmt: str, actor: Actor) -> Response:
    """`questions`: what `queries.shown_questions` gives for the filters, so a question only
    older versions asked keeps its column."""
    if fmt not in export.FORMATS:
        raise ValueError(f"format must be one of {', '.join(export.FORMATS)}")
    where = filters.conditions()
    with db.transaction() as session:
        count = session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
        audit.record(session, actor, audit.EXPORT, survey.id,
                     {"format": fmt, "filters": filters.describe(), "conversations": count})
    keys = [q.key for q in questions]
    english_for = {q.key for q in questions if q.free_text}
    header = export.columns(keys, english_for)
    data = export.rows(db, survey.id, keys, english_for, where=where)
    headers = {"Content-Disposition": f'attachment; filename="{filename(survey, fmt)}"',
               "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if fmt == "csv":
        return StreamingResponse(export.csv_chunks(header, data), media_type=export.FORMATS[fmt],
                                 headers=headers)
    if fmt == "json":
        return StreamingResponse(export.json_chunks(header, data), media_type=export.FORMATS[fmt],
                                 headers=headers)
    out = io.BytesIO()
    export.write_xlsx(header, data, out, title=survey.id)
    return Response(out.getvalue(), media_type=export.FORMATS[fmt], headers=headers)
