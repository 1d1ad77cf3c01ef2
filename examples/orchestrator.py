"""A multi-agent orchestrator (issue 12, backend c), on FastAPI, over SSE and over WebSocket.

Two agents answer in parallel on different providers (an OpenAI-style and an Anthropic
endpoint) and their tokens are merged as they arrive; the app adds its own events between the
phases — an interaction between the agents, numeric progress — and one final `complete` that
carries the response. Every event is encoded by tokenwire's core in the app's vocabulary:

    event: agent_start    data: {"agent":"researcher"}
    event: agent_chunk    data: {"agent":"writer","content":"Hel"}
    event: agent_complete data: {"agent":"researcher"}
    event: interaction    data: {"from":"researcher","to":"writer","summary":"..."}
    event: progress       data: {"progress":0.5,"status":"reviewing"}
    event: complete       data: {"response":"...","interactions":1,"metadata":{...}}

POST /orchestrate answers as SSE; /ws/orchestrate takes {"task": "..."} and answers the same
events as JSON messages, with {"type":"ping"} -> pong and {"type":"cancel"}.

    OPENAI_BASE=http://127.0.0.1:8080/v1 ANTHROPIC_BASE=http://127.0.0.1:8080/v1 \\
        uvicorn orchestrator:app                                   (tokenwire mock --port 8080)
"""
import os

from fastapi import FastAPI, Request, WebSocket

import tokenwire as tw
from tokenwire.fastapi import Relay
from tokenwire.websocket import Relay as WebSocketRelay

openai = tw.Client(base_url=os.environ.get("OPENAI_BASE", "https://api.openai.com/v1"),
                   api_key=os.environ.get("OPENAI_API_KEY", ""))
anthropic = tw.Client(base_url=os.environ.get("ANTHROPIC_BASE", "https://api.anthropic.com/v1"),
                      api_key=os.environ.get("ANTHROPIC_API_KEY", ""), dialect="anthropic")

# The app's vocabulary; {source} is the merged agent's name.
AGENTS = tw.Format({
    "events": {
        "agent_start": {"event": "agent_start", "data": {"agent": "{source}"}},
        "text": {"event": "agent_chunk", "data": {"agent": "{source}", "content": "{text}"}},
        "agent_complete": {"event": "agent_complete", "data": {"agent": "{source}"}},
        "error": {"event": "error", "data": {"agent": "{source}", "message": "{text}"}},
    },
})

app = FastAPI()


def _agents(task: str) -> "tw.merge":
    user = [{"role": "user", "content": task}]
    researcher = openai.stream("POST", "/chat/completions", json={
        "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), "stream": True,
        "messages": [{"role": "system", "content": "Research."}] + user})
    writer = anthropic.stream("POST", "/messages", json={
        "model": os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-5"), "max_tokens": 1024,
        "stream": True, "system": "Write.", "messages": user})
    return tw.merge({"researcher": researcher, "writer": writer})


async def orchestrate(relay, task: str) -> None:
    relay.progress(0.0, status="starting")
    agents = _agents(task)
    await relay.pipe(agents)  # both agents' tokens, merged in C
    research = agents.streams["researcher"].text_content or ""
    relay.send("interaction", {"from": "researcher", "to": "writer",
                               "summary": research[:80]})
    relay.progress(0.5, status="reviewing")
    review = openai.stream("POST", "/chat/completions", json={
        "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), "stream": True,
        "messages": [{"role": "user", "content": "Review: " + research}]})
    await relay.pipe(tw.merge({"reviewer": review}))
    relay.progress(1.0, status="done")
    await relay.close(final=("complete", {
        "response": agents.streams["writer"].text_content, "interactions": 1,
        "metadata": {"review": review.text_content, "usage": review.usage}}))


@app.post("/orchestrate")
async def orchestrate_sse(req: Request):
    task = (await req.json()).get("task", "")
    relay = Relay(format=AGENTS, event_ids=True)
    return relay.response(orchestrate(relay, task))


@app.websocket("/ws/orchestrate")
async def orchestrate_ws(ws: WebSocket) -> None:
    await ws.accept()
    task = (await ws.receive_json()).get("task", "")
    relay = WebSocketRelay(ws, format=AGENTS)
    await relay.run(orchestrate(relay, task), close=True)
