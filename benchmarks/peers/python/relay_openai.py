"""The pure-Python relay of the relay workload, shaped like tokenwire's examples/fastapi_app.py
(same route, same request, same upstream body, X-Mock-* headers forwarded) but written the way
the openai SDK and FastAPI docs show: AsyncOpenAI(stream=True) and a StreamingResponse that
re-encodes every chunk as `data: {chunk.model_dump_json()}`.

    RELAY_UPSTREAM=http://127.0.0.1:PORT/v1 uvicorn relay_openai:app \
        --app-dir benchmarks/peers/python
    POST /chat?format=openai   {"messages": [...]}  ->  OpenAI chat.completion.chunk SSE
"""
import os

import httpx2
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

UPSTREAM = os.environ.get("RELAY_UPSTREAM", "http://127.0.0.1:8080/v1")
MODEL = "gpt-4o-mini"

client = AsyncOpenAI(base_url=UPSTREAM, api_key="relay", max_retries=2,
                     http_client=DefaultAsyncHttpxClient(
                         limits=httpx2.Limits(max_connections=2000,
                                              max_keepalive_connections=2000)))
app = FastAPI(title="openai SDK relay")


@app.post("/chat")
async def chat(request: Request):
    payload = await request.json()
    messages = payload.get("messages") or [{"role": "user", "content": payload.get("prompt", "")}]
    hdrs = {k: v for k, v in request.headers.items() if k.lower().startswith("x-mock-")}
    stream = await client.chat.completions.create(
        model=payload.get("model") or MODEL, messages=messages, stream=True,
        stream_options={"include_usage": True}, extra_headers=hdrs)

    async def events():
        async for chunk in stream:
            yield f"data: {chunk.model_dump_json()}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
