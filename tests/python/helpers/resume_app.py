"""The FastAPI app of the resume tests (helpers/asgi_server.py runs it under uvicorn, one
process per "instance"): relays from the mock LLM (TOKENWIRE_BASE_URL) teed to the Redis at
TOKENWIRE_REDIS_URL, resume and stop on any instance."""
import os

from fastapi import FastAPI, Request

import tokenwire as tw
from tokenwire.fastapi import sse_response
from tokenwire.resume import RedisTee, resume_response
from vocab import BODY

client = tw.Client(base_url=os.environ["TOKENWIRE_BASE_URL"], max_retries=0)
tee = RedisTee(os.environ["TOKENWIRE_REDIS_URL"], prefix="twtest:",
               require=os.environ.get("TOKENWIRE_REQUIRE") == "1")
app = FastAPI()


@app.get("/chat")
async def chat(request: Request):
    q = request.query_params
    params = {"chunks": q.get("chunks", "20"), "delay_ms": q.get("delay_ms", "20")}
    s = client.stream("POST", "/v1/chat/completions", json=BODY, params=params)
    detach = q.get("detach")
    return sse_response(s, format=q.get("format", "openai"), heartbeat=None, tee=tee,
                        detach=float(detach) if detach else False,
                        event_ids=q.get("id") or True)


@app.get("/resume")
async def resume(request: Request):
    return await resume_response(tee, request, format=request.query_params.get("format",
                                                                                "openai"))


@app.post("/stop/{stream_id}")
async def stop(stream_id: str):
    tee.request_stop(stream_id)
    return {"ok": True}


@app.get("/notices")
async def notices():
    return {"notices": tee.notices, "available": tee.available}
