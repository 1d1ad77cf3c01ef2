"""A WebSocket agent (issue 12, backend b), on FastAPI.

The browser opens /ws/agent (auth is checked before accept), then sends {"prompt": "...",
"agent": "researcher"}; the server answers in the app's own vocabulary, one JSON message per
event, written by tokenwire's core (no Python per token):

    {"type": "agent_processing_started", "agent": "researcher"}
    {"type": "agent_processing_update", "agent": "researcher", "chunk": "Hel", "length": 3}
    ...
    {"type": "agent_processing_complete", "agent": "researcher", "text": "Hello ..."}

The model behind it does not stream (a batch endpoint, an internal service): its one JSON
answer is cut into deltas of 4 characters and paced every 20 ms by the core (simulate=), so the
page still types the answer out; each answer's metrics say it was simulated. The client may
send {"type": "cancel"} (stops the upstream), {"type": "ping"} (answered with a pong), or close
the socket (cancels the upstream). Several prompts may follow on one socket.

    UPSTREAM=http://127.0.0.1:8080/v1 uvicorn ws_agent:app     (tokenwire mock --port 8080)
"""
import os

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

import tokenwire as tw
from tokenwire.fastapi import websocket_relay

client = tw.Client(base_url=os.environ.get("UPSTREAM", "https://api.openai.com/v1"),
                   api_key=os.environ.get("OPENAI_API_KEY", ""))
MODEL = os.environ.get("MODEL", "gpt-4o-mini")
TOKEN = os.environ.get("AGENT_TOKEN", "")  # the auth this example checks before accept()

# The app's vocabulary, compiled once by the core; "agent" is set per connection.
AGENT = tw.Format({
    "framing": "ndjson",
    "constants": {"agent": "assistant"},
    "events": {
        "start": {"data": {"type": "agent_processing_started", "agent": "{constants.agent}"}},
        "text": {"data": {"type": "agent_processing_update", "agent": "{constants.agent}",
                          "chunk": "{text}", "length": "{length}"}},
        "error": {"data": {"type": "error", "agent": "{constants.agent}", "message": "{text}"}},
    },
    "finish": {"data": {"type": "agent_processing_complete", "agent": "{constants.agent}",
                        "text": "{text_so_far}"}},
})

app = FastAPI()


@app.websocket("/ws/agent")
async def agent(ws: WebSocket) -> None:
    if TOKEN and ws.query_params.get("token") != TOKEN:
        await ws.close(code=4401)  # refused before accept(): no upstream is started
        return
    await ws.accept()
    try:
        while True:
            msg = await ws.receive_json()
            if msg.get("type") == "ping":
                await ws.send_json({"type": "pong"})
                continue
            body = {"model": MODEL, "stream": False,
                    "messages": [{"role": "user", "content": str(msg.get("prompt", ""))}]}
            s = client.stream("POST", "/chat/completions", json=body, simulate=(4, 0.02))
            result = await websocket_relay(ws, s, format=AGENT,
                                           constants={"agent": str(msg.get("agent", "assistant"))})
            if result.reason == "disconnected":
                return
    except WebSocketDisconnect:
        return
