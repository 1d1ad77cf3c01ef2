"""An unbuffered NDJSON chat router in the app's own line schema (issue 12, backend d), on
FastAPI. POST /chat {"messages": [...]} answers, one line per event, written by tokenwire's core:

    {"type":"chat","content":"Hel","streaming":true}
    ...
    {"type":"done","usage":{"input_tokens":9,"output_tokens":20,"total_tokens":29}}

A provider error mid-answer becomes {"type":"error",...}; the client going away cancels the
upstream. The same router as a Next.js route: examples/nextjs/app/api/ndjson/route.ts.

    UPSTREAM=http://127.0.0.1:8080/v1 uvicorn ndjson_router:app     (tokenwire mock --port 8080)
"""
import os

from fastapi import FastAPI, Request

import tokenwire as tw
from tokenwire.fastapi import sse_response

client = tw.Client(base_url=os.environ.get("UPSTREAM", "https://api.openai.com/v1"),
                   api_key=os.environ.get("OPENAI_API_KEY", ""))
MODEL = os.environ.get("MODEL", "gpt-4o-mini")

LINES = tw.Format({
    "framing": "ndjson",
    "events": {
        "text": {"data": {"type": "chat", "content": "{text}", "streaming": True}},
        "error": {"data": {"type": "error", "kind": "{kind}", "message": "{text}"}},
    },
    "finish": {"data": {"type": "done", "usage": "{usage}"}},
})

app = FastAPI()


@app.post("/chat")
async def chat(req: Request):
    payload = await req.json()
    s = client.stream("POST", "/chat/completions", json={
        "model": MODEL, "stream": True, "messages": payload.get("messages", []),
        "stream_options": {"include_usage": True}})
    return sse_response(s, format=LINES)  # NDJSON framing: application/x-ndjson, no buffering
