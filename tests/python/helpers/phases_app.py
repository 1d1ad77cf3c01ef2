"""The FastAPI app of the relay-of-phases tests (tokenwire.fastapi.Relay and
tokenwire.websocket.Relay) under uvicorn, relaying the mock LLM (TOKENWIRE_BASE_URL).

Every relay is keyed by ?key=, so a test can release its gate (POST /release/{key}: the app
starts its first upstream only then) and read back what happened to the app's coroutine
(GET /state/{key}, which waits for the coroutine's end)."""
import asyncio
import collections
import os

from fastapi import FastAPI, Request, WebSocket

import tokenwire as tw
from tokenwire.fastapi import Relay
from tokenwire.websocket import Relay as WSRelay
from vocab import BODY

client = tw.Client(base_url=os.environ["TOKENWIRE_BASE_URL"], max_retries=0)
app = FastAPI()

GATES = collections.defaultdict(asyncio.Event)  # key -> set by /release
ENDED = collections.defaultdict(asyncio.Event)  # key -> set when the app's coroutine ended
STATE = {}  # key -> "closed" | "cancelled" | the exception's repr

# An app vocabulary: its own names for the answer and the app events.
CHAT = tw.Format({
    "framing": "ndjson",
    "events": {"text": {"data": {"type": "chat", "content": "{text}"}}},
    "app": {"status": {"data": {"type": "status", "state": "{payload.state}"}},
            "complete": {"data": {"type": "done", "response": "{text_so_far}",
                                  "usage": "{usage}", "phases": "{payload.phases}"}}},
})


def upstream(chunks, delay_ms=None):
    params = {"chunks": str(chunks)}
    if delay_ms is not None:
        params["delay_ms"] = str(delay_ms)
    return client.stream("POST", "/v1/chat/completions", json=BODY, params=params)


async def two_phases(relay, key, gated):
    """status, (gate), phase 1, progress, phase 2, one final complete."""
    try:
        relay.send("status", {"state": "thinking"})
        if gated:
            await GATES[key].wait()
        first = upstream(3)
        await relay.pipe(first)
        relay.progress(0.5, status="writing")
        second = upstream(4)
        await relay.pipe(second)
        await relay.close(final=("complete", {
            "response": first.text_content + second.text_content,
            "usage": second.usage, "phases": 2}))
        STATE[key] = "closed"
    except asyncio.CancelledError:
        STATE[key] = "cancelled"
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the test
        STATE[key] = repr(exc)
        raise
    finally:
        ENDED[key].set()


def fmt(name):
    return CHAT if name == "chat" else name


@app.get("/phases/{name}")
async def phases(name: str, request: Request):
    q = request.query_params
    key = q["key"]
    hb = float(q.get("hb", "0"))
    relay = Relay(format=fmt(name), heartbeat=hb or None, event_ids=q.get("ids"))
    return relay.response(two_phases(relay, key, q.get("gated") == "1"))


@app.post("/release/{key}")
async def release(key: str):
    GATES[key].set()
    return {"ok": True}


@app.get("/state/{key}")
async def state(key: str):
    await asyncio.wait_for(ENDED[key].wait(), 20)
    return {"state": STATE.get(key)}


@app.get("/slow")
async def slow(request: Request):
    """One long phase (the client disconnects during it)."""
    key = request.query_params["key"]
    relay = Relay(format="events", heartbeat=None)

    async def run():
        try:
            relay.send("status", {"state": "streaming"})
            await relay.pipe(upstream(400, delay_ms=20))
            STATE[key] = "phase ended"
            await relay.close()
        except asyncio.CancelledError:
            STATE[key] = "cancelled"
            raise
        finally:
            ENDED[key].set()

    return relay.response(run())


@app.get("/engine_stats")
async def engine_stats():
    return client.stats()


@app.websocket("/ws/phases")
async def ws_phases(websocket: WebSocket):
    await websocket.accept()
    prompt = await websocket.receive_json()
    key = prompt["key"]
    relay = WSRelay(websocket, format=fmt(prompt.get("format", "events")),
                    event_ids=prompt.get("ids"))
    if prompt.get("slow"):
        async def run():
            try:
                relay.send("status", {"state": "streaming"})
                await relay.pipe(upstream(400, delay_ms=20))
                await relay.close()
                STATE[key] = "closed"
            except asyncio.CancelledError:
                STATE[key] = "cancelled"
                raise
            finally:
                ENDED[key].set()
        result = await relay.run(run())
    else:
        result = await relay.run(two_phases(relay, key, False))
    STATE[key + ":reason"] = result.reason
    if result.reason != "disconnected":
        await websocket.send_json({"type": "relay_done", "reason": result.reason})
