"""Twilio's WhatsApp and SMS webhooks: check the signature, parse the form, store, answer.

Twilio retries a webhook that is slow or fails, so the answer is immediate and a repeated
MessageSid is acknowledged without storing it again.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from bot import inbox
from bot.inbox import InboundMessage
from bot.outbox import apply_status_callback
from bot.storage.phones import split_address
from webhooks.signature import SETTINGS_HEADER, SIGNATURE_HEADER, is_valid, signed_url

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["twilio"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def parse_inbound(form: dict[str, str]) -> InboundMessage:
    """Read Twilio's inbound message form. Raises ValueError if required fields are missing."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    if not sid or not form.get("From") or not form.get("To"):
        raise ValueError("MessageSid, From and To are required")
    channel, sender = split_address(form["From"])
    _, ours = split_address(form["To"])
    try:
        num_media = int(form.get("NumMedia") or 0)
    except ValueError:
        num_media = 0
    media = [
        {"url": form.get(f"MediaUrl{i}", ""), "content_type": form.get(f"MediaContentType{i}", "")}
        for i in range(num_media)
    ]
    return InboundMessage(
        sid=sid,
        channel=channel,
        sender=sender,
        our_address=ours,
        body=form.get("Body", ""),
        media=media,
        button_payload=form.get("ButtonPayload") or None,
    )


async def _verified_form(request: Request) -> dict[str, str] | None:
    form: FormData = await request.form()
    params = {k: str(v) for k, v in form.multi_items()}
    settings = request.app.state.settings
    url = signed_url(settings.base_url, request.url.path, request.url.query)
    ok = is_valid(
        settings.webhook_auth_token,
        url,
        params,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(SETTINGS_HEADER),
    )
    return params if ok else None


@router.post("/messages")
async def inbound_message(request: Request) -> Response:
    form = await _verified_form(request)
    if form is None:
        log.warning("inbound webhook refused: bad or missing signature")
        return Response("invalid signature", status_code=403)
    try:
        message = parse_inbound(form)
    except ValueError as exc:
        return Response(str(exc), status_code=400)
    state = request.app.state
    stored_id = await run_in_threadpool(inbox.store_inbound, state.db, state.vault, message)
    if stored_id is None:
        log.info("duplicate delivery of an inbound message ignored")
    else:
        state.worker.notify()
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/status")
async def status_callback(request: Request) -> Response:
    form = await _verified_form(request)
    if form is None:
        log.warning("status callback refused: bad or missing signature")
        return Response("invalid signature", status_code=403)
    state = request.app.state
    await run_in_threadpool(apply_status_callback, state.db, form)
    return Response(status_code=204)
