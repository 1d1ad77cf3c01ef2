"""The FastAPI app the relay tests run under uvicorn (helpers/asgi_server.py): the vocabularies
of issue 12 as tokenwire.Formats, relayed from the mock LLM (TOKENWIRE_BASE_URL)."""
import os

from fastapi import FastAPI, Request, WebSocket
from starlette.websockets import WebSocketDisconnect

import tokenwire as tw
from tokenwire.fastapi import sse_response, websocket_relay
from vocab import BODY, SPECS

client = tw.Client(base_url=os.environ["TOKENWIRE_BASE_URL"], max_retries=0)
FORMATS = {name: tw.Format(spec) for name, spec in SPECS.items()}

app = FastAPI()


def upstream(request: Request, chunks=None):
    q = request.query_params
    params = {"chunks": chunks or q.get("chunks", "5")}
    for k in ("delay_ms", "text"):
        if k in q:
            params[k] = q[k]
    return client.stream("POST", "/v1/chat/completions", json=BODY, params=params)


def fmt(name):
    return FORMATS.get(name, name)  # a vocabulary above, or a built-in format name


def constants(request: Request):
    """This request's agent (?agent=), a per-stream constant of the vocabularies."""
    agent = request.query_params.get("agent")
    return {"agent": agent} if agent is not None else None


@app.get("/tpl/{name}")
async def tpl(name: str, request: Request):
    return sse_response(upstream(request), format=fmt(name), heartbeat=None,
                        event_ids=request.query_params.get("ids"), constants=constants(request))


@app.get("/agents/{name}")
async def agents(name: str, request: Request):
    m = tw.merge({"researcher": upstream(request, "4"), "writer": upstream(request, "6")})
    return sse_response(m, format=fmt(name), heartbeat=None)


@app.get("/peek/{name}")
async def peek(name: str, request: Request):
    """Reads events until the first text (as an app deciding on a fallback would), then relays
    the stream: what was read is relayed first."""
    s = upstream(request)
    seen = []
    async for ev in s:
        seen.append(ev.type)
        if ev.type == "text":
            break
    resp = sse_response(s, format=fmt(name), heartbeat=None,
                        event_ids=request.query_params.get("ids"))
    resp.headers["x-peeked"] = ",".join(seen)
    return resp


@app.get("/engine_stats")
async def engine_stats():
    return client.stats()


# What the WebSocket relays returned (or raised), for the tests to read back.
WS_LOG = []


@app.get("/ws_log")
async def ws_log():
    return WS_LOG


@app.websocket("/ws/{name}")
async def ws(websocket: WebSocket, name: str):
    """Auth before accept; then one relay per prompt ({"chunks", "delay_ms", "ids",
    "agents"}) on the same socket, each followed by a relay_done message of the app's own."""
    if websocket.query_params.get("token") != "ok":
        await websocket.close(code=1008)
        return
    await websocket.accept()
    while True:
        try:
            prompt = await websocket.receive_json()
        except WebSocketDisconnect:
            return
        params = {"chunks": str(prompt.get("chunks", 5))}
        for k in ("delay_ms", "text"):
            if k in prompt:
                params[k] = str(prompt[k])
        if prompt.get("agents"):
            source = tw.merge({a: client.stream("POST", "/v1/chat/completions", json=BODY,
                                                params=dict(params, chunks=str(n)))
                               for a, n in prompt["agents"].items()})
        else:
            source = client.stream("POST", "/v1/chat/completions", json=BODY, params=params)
        ids = prompt.get("ids")
        try:
            r = await websocket_relay(websocket, source, format=fmt(name),
                                      event_ids=tuple(ids) if isinstance(ids, list) else ids,
                                      constants=prompt.get("constants"))
        except Exception as exc:  # the tests check that nothing is raised
            WS_LOG.append({"raised": repr(exc)})
            raise
        WS_LOG.append({"reason": r.reason, "messages": r.messages})
        if r.reason == "disconnected":
            return
        await websocket.send_json({"type": "relay_done", "reason": r.reason,
                                   "messages": r.messages, "next_event_seq": r.next_event_seq})
