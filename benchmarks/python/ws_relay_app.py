"""The app of bench_ws_relay.py: three WebSocket relays of the same mock stream in the issue's
agent vocabulary ({type, agent, chunk, length} per token, then a complete message).

  /tw        tokenwire: websocket_relay with a tokenwire.Format (encoded in C per event)
  /tw_ndjson tokenwire: websocket_relay in the built-in ndjson format (the reference for the
             template's own cost)
  /tw_dumps  tokenwire for the upstream, the vocabulary written with json.dumps per token
  /sdk       the openai SDK (AsyncOpenAI, stream=True) + json.dumps per token
"""
import json
import os

from fastapi import FastAPI, WebSocket

import tokenwire as tw
from tokenwire.fastapi import websocket_relay

BASE = os.environ["TOKENWIRE_BASE_URL"]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
client = tw.Client(base_url=BASE, max_retries=0)
UPDATES = tw.Format({
    "framing": "ndjson",
    "constants": {"agent": "researcher"},
    "events": {"text": {"data": {"type": "agent_processing_update", "agent": "{constants.agent}",
                                 "chunk": "{text}", "length": "{length}"}}},
    "finish": {"data": {"type": "agent_processing_complete", "agent": "{constants.agent}",
                        "text": "{text_so_far}"}},
})
app = FastAPI()


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}


@app.websocket("/tw")
async def relay_tw(ws: WebSocket):
    await ws.accept()
    n = (await ws.receive_json())["chunks"]
    s = client.stream("POST", "/v1/chat/completions", json=BODY, params={"chunks": str(n)})
    await websocket_relay(ws, s, format=UPDATES, close=True)


@app.websocket("/tw_ndjson")
async def relay_tw_ndjson(ws: WebSocket):
    await ws.accept()
    n = (await ws.receive_json())["chunks"]
    s = client.stream("POST", "/v1/chat/completions", json=BODY, params={"chunks": str(n)})
    await websocket_relay(ws, s, format="ndjson", close=True)


@app.websocket("/tw_dumps")
async def relay_tw_dumps(ws: WebSocket):
    await ws.accept()
    n = (await ws.receive_json())["chunks"]
    s = client.stream("POST", "/v1/chat/completions", json=BODY, params={"chunks": str(n)})
    text = []
    length = 0
    async for t in s.text():
        text.append(t)
        length += len(t.encode())
        await ws.send_text(json.dumps({"type": "agent_processing_update", "agent": "researcher",
                                       "chunk": t, "length": length}))
    await ws.send_text(json.dumps({"type": "agent_processing_complete", "agent": "researcher",
                                   "text": "".join(text)}))
    await ws.close()


@app.websocket("/sdk")
async def relay_sdk(ws: WebSocket):
    import openai

    await ws.accept()
    n = (await ws.receive_json())["chunks"]
    oc = openai.AsyncOpenAI(base_url=BASE + "/v1", api_key="x", max_retries=0)
    stream = await oc.chat.completions.create(model="m", messages=BODY["messages"], stream=True,
                                              extra_query={"chunks": str(n)})
    text = []
    length = 0
    async for chunk in stream:
        for ch in chunk.choices:
            t = ch.delta.content
            if t:
                text.append(t)
                length += len(t.encode())
                await ws.send_text(json.dumps({"type": "agent_processing_update",
                                               "agent": "researcher", "chunk": t,
                                               "length": length}))
    await ws.send_text(json.dumps({"type": "agent_processing_complete", "agent": "researcher",
                                   "text": "".join(text)}))
    await ws.close()
