"""The realtime channel: ``/api/realtime``, a WebSocket of the events each subscriber may see.

The events table is polled (every 100 ms, a fresh read each time, so any worker and any
stack writing to the file is seen), as the legacy's custom server does.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket

from backend.db import open_session
from backend.deps import token_from_headers, user_for_token
from backend.jsonout import dumps
from backend.realtime import latest_event_id, pending_messages

router = APIRouter()
POLL_S = 0.1


@router.websocket("/api/realtime")
async def realtime(websocket: WebSocket) -> None:
    await websocket.accept()
    header = websocket.headers.get("authorization")
    token_param = websocket.query_params.get("token")
    if token_param and "authorization" not in websocket.headers:
        header = f"Bearer {token_param}"
    token = token_from_headers(header, websocket.headers.get("cookie"))
    with open_session() as session:
        user = user_for_token(session, token)
        after = latest_event_id(session)
    if user is None:
        error = {"type": "error", "error": "unauthorized", "message": "Authentication required"}
        await websocket.send_text(dumps(error).decode())
        await websocket.close(4401, "unauthorized")
        return
    ready = {
        "type": "ready",
        "userId": user.id,
        "role": user.role,
        "businessUnit": user.business_unit,
        "after": after,
    }
    await websocket.send_text(dumps(ready).decode())
    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout=POLL_S)
        except TimeoutError:
            message = None
        if message is not None and message["type"] == "websocket.disconnect":
            return
        with open_session() as session:
            messages, after = pending_messages(session, user, after)
        for text in messages:
            await websocket.send_text(text.decode())


__all__ = ["router"]
