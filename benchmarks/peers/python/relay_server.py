"""The Python relays of the relay workload: a FastAPI app under uvicorn whose POST /chat calls
the upstream (the mock, $RELAY_UPSTREAM) with the request's query string passed through, and
relays the stream to the caller as OpenAI chat.completion.chunk SSE.

  relay_server.py openai     the openai SDK + StreamingResponse, re-encoding every chunk with
                             chunk.model_dump_json() (what FastAPI/openai examples do)
  relay_server.py tokenwire  tokenwire.Client + tokenwire.fastapi.sse_response(format="openai")

Both run on the same stack: uvicorn, one worker, its default (uvloop + httptools when
installed), access log off."""
import os
import sys

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

UPSTREAM = os.environ.get("RELAY_UPSTREAM", "http://127.0.0.1:8080")
PORT = int(os.environ.get("RELAY_PORT", "8000"))
MODEL = "bench-model"
MESSAGES = [{"role": "user", "content": "Tell me a long story."}]

app = FastAPI()
mode = sys.argv[1] if len(sys.argv) > 1 else "openai"

if mode == "openai":
    import httpx2
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    client = AsyncOpenAI(base_url=UPSTREAM + "/v1", api_key="relay", max_retries=0,
                         http_client=DefaultAsyncHttpxClient(
                             limits=httpx2.Limits(max_connections=2000,
                                                  max_keepalive_connections=2000)))

    @app.post("/chat")
    async def chat(request: Request):
        stream = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_query=dict(request.query_params))

        async def events():
            async for chunk in stream:
                yield f"data: {chunk.model_dump_json()}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

elif mode == "tokenwire":
    import tokenwire
    from tokenwire.fastapi import sse_response

    client = tokenwire.Client(base_url=UPSTREAM, dialect="openai")
    BODY = {"model": MODEL, "messages": MESSAGES, "stream": True}

    @app.post("/chat")
    async def chat(request: Request):
        path = "/v1/chat/completions"
        if request.url.query:
            path += "?" + request.url.query
        return sse_response(client.stream("POST", path, json=BODY), format="openai")

else:
    sys.exit("relay_server.py: unknown mode " + mode)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
