"""An orchestrator that relays streaming LLM responses to browsers through tokenwire.

Run it (the built-in mock LLM server is started in-process when no upstream is configured):

    pip install . fastapi uvicorn
    uvicorn examples.fastapi_app:app --port 8000
    # or, several workers sharing one preloaded app:
    gunicorn --preload -k uvicorn.workers.UvicornWorker -w 2 examples.fastapi_app:app
    curl -N -X POST 'localhost:8000/chat?format=events' -H 'content-type: application/json' \
         -d '{"messages":[{"role":"user","content":"hi"}]}'

Upstream: TOKENWIRE_BASE_URL (e.g. https://api.openai.com/v1), TOKENWIRE_API_KEY,
TOKENWIRE_DIALECT (openai | anthropic | gemini | ollama | openai-responses), TOKENWIRE_MODEL.

Routes:
    POST /chat?format=openai|events|ai-sdk|ndjson|text   one agent, relayed in that format;
         &event_ids=true                                  with event ids "<stream id>:<seq>"
                                                          (the stream id also in X-Stream-Id)
    POST /v1/chat/completions                             OpenAI-compatible relay (any dialect
                                                          upstream; OpenAI SDKs can read it)
    POST /agents                                          two agents in parallel, merged into
                                                          one `events` stream
Request headers X-Mock-* are forwarded upstream (they steer the mock server in tests).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from fastapi import FastAPI, HTTPException, Request

import tokenwire as tw
from tokenwire.fastapi import FORMATS, sse_response

DIALECT = os.environ.get("TOKENWIRE_DIALECT", "openai")
MODEL = os.environ.get("TOKENWIRE_MODEL", "gpt-4o-mini")
BASE_URL = os.environ.get("TOKENWIRE_BASE_URL", "")
_mock = None
if not BASE_URL:
    from tokenwire import _tools

    _mock = _tools.Mock(host="127.0.0.1", port=0)
    BASE_URL = "http://127.0.0.1:%d/v1" % _mock.port if DIALECT != "gemini" else \
        "http://127.0.0.1:%d/v1beta" % _mock.port
    if DIALECT == "ollama":
        BASE_URL = "http://127.0.0.1:%d" % _mock.port

# A relay never reads the answer's text: with accumulate=False the summary counts text and
# reasoning without keeping them (tool calls, usage and finish reasons are kept), so memory
# stays flat however long the streams are. The client may be made before gunicorn --preload
# forks its workers: each worker starts its own engine on first use.
client = tw.Client(base_url=BASE_URL, api_key=os.environ.get("TOKENWIRE_API_KEY"),
                   dialect=DIALECT, max_retries=2, accumulate=False)
app = FastAPI(title="tokenwire relay example")


def upstream(messages: List[Dict[str, Any]], extra: Dict[str, Any]) -> tuple:
    """(path, JSON body) of a streaming request in the configured dialect."""
    model = extra.get("model") or MODEL
    if DIALECT == "anthropic":
        system = "\n".join(m["content"] for m in messages if m.get("role") == "system")
        body = {"model": model, "max_tokens": extra.get("max_tokens") or 1024, "stream": True,
                "messages": [m for m in messages if m.get("role") != "system"]}
        if system:
            body["system"] = system
        return "/messages", body
    if DIALECT == "gemini":
        contents = [{"role": "model" if m.get("role") == "assistant" else "user",
                     "parts": [{"text": m.get("content", "")}]} for m in messages]
        return "/models/%s:streamGenerateContent?alt=sse" % model, {"contents": contents}
    if DIALECT == "ollama":
        return "/api/chat", {"model": model, "messages": messages, "stream": True}
    if DIALECT == "openai-responses":
        return "/responses", {"model": model, "input": messages, "stream": True}
    body = {"model": model, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}}
    if extra.get("tools"):
        body["tools"] = extra["tools"]
    return "/chat/completions", body


def mock_headers(request: Request) -> Dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower().startswith("x-mock-")}


async def start(request: Request) -> tw.Stream:
    try:
        payload = await request.json()
    except ValueError:
        raise HTTPException(400, "body must be JSON")
    messages = payload.get("messages") or [{"role": "user", "content": payload.get("prompt", "")}]
    path, body = upstream(messages, payload)
    return client.stream("POST", path, json=body, headers=mock_headers(request))


@app.post("/chat")
async def chat(request: Request, format: str = "openai", event_ids: bool = False):
    if format not in FORMATS:
        raise HTTPException(400, "format must be one of %s" % (FORMATS,))
    resp = sse_response(await start(request), format=format, model=MODEL, event_ids=event_ids)
    if resp.stream_id:
        # The random stream id the event ids carry: an app resuming relays would store it
        # (with what it relays); here it is told to the client.
        resp.headers["x-stream-id"] = resp.stream_id
    return resp


@app.post("/v1/chat/completions")
async def openai_compatible(request: Request):
    return sse_response(await start(request), format="openai", model=MODEL)


@app.post("/agents")
async def agents(request: Request):
    payload = await request.json()
    topic = payload.get("prompt", "streaming parsers")
    hdrs = mock_headers(request)
    roles = {
        "researcher": "List three facts about %s." % topic,
        "writer": "Write one paragraph about %s." % topic,
    }
    streams = {}
    for name, prompt in roles.items():
        path, body = upstream([{"role": "user", "content": prompt}], payload)
        streams[name] = client.stream("POST", path, json=body, headers=hdrs)
    return sse_response(tw.merge(streams), format="events")


@app.get("/healthz")
async def healthz():
    return {"ok": True, "upstream": BASE_URL, "dialect": DIALECT}
