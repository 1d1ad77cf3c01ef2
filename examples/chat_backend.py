"""A chat endpoint (issue 12, backend a), on FastAPI: the browser sees a status event at once,
while the app's setup (loading the conversation, retrieval, moderation...) takes its time; then
the answer streams from the primary provider, or from the backup when the primary fails before
its first token (an HTTP error, a timeout, a refused connection: the core moves on, the browser
sees only the winner's tokens); one final `complete` says which provider answered. The
connections to both providers are opened at startup (prewarm), so the first request pays no
TLS handshake.

    event: status      data: {"state":"thinking"}
    event: agent_chunk data: {"agent":"default","type":"text","text":"Hel"} ...
    event: complete    data: {"provider":"backup","usage":{...}}

    PRIMARY=https://my-azure.openai.azure.com/openai/deployments/gpt BACKUP=https://api.openai.com/v1 \\
        uvicorn chat_backend:app
"""
import os

from fastapi import FastAPI, Request

import tokenwire as tw
from tokenwire.fastapi import Relay

primary = tw.Client(base_url=os.environ.get("PRIMARY", "https://api.openai.com/v1"),
                    api_key=os.environ.get("PRIMARY_KEY", ""), max_retries=0,
                    timeout=tw.Timeout(connect=3, first_token=20))
backup = tw.Client(base_url=os.environ.get("BACKUP", "https://api.openai.com/v1"),
                   api_key=os.environ.get("BACKUP_KEY", ""))
MODEL = os.environ.get("MODEL", "gpt-4o-mini")
PROVIDERS = ("primary", "backup")

app = FastAPI()


@app.on_event("startup")
async def prewarm() -> None:
    for c in (primary, backup):
        try:
            c.prewarm()  # DNS + TCP + TLS now, not on the first user's request
        except ValueError:
            pass


async def load_context(messages: list) -> list:
    """The app's own slow setup (history, retrieval, moderation, ...); here, nothing more."""
    return messages


@app.post("/chat")
async def chat(req: Request):
    # The body is read before the response starts: once it streams, Starlette's response owns
    # the request's receive channel (it listens there for the client going away).
    messages = (await req.json()).get("messages", [])
    relay = Relay(format="events", event_ids=True, heartbeat=10)

    async def run() -> None:
        relay.send("status", {"state": "thinking"})  # before any upstream exists
        messages_ = await load_context(messages)
        body = {"model": MODEL, "stream": True, "messages": messages_,
                "stream_options": {"include_usage": True}}
        s = primary.stream("POST", "/chat/completions", json=body,
                           fallback=[backup.request("POST", "/chat/completions", json=body)])
        await relay.pipe(s)
        await relay.close(final=("complete", {
            "provider": PROVIDERS[s.metrics["fallback_index"]], "usage": s.usage}))

    return relay.response(run())
