"""httpx + httpx-sse (aconnect_sse / aiter_sse, as httpx-sse's README shows) and a JSON parser
per event: json.loads (default) or orjson.loads (variant `orjson`)."""
import json

import httpx
from httpx_sse import aconnect_sse

import common
from common import BODIES, PATHS, first_via_visit

DISTS = ("httpx", "httpx-sse", "orjson")


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if variant == "orjson":
            import orjson
            self.loads = orjson.loads
        elif variant == "":
            self.loads = json.loads
        else:
            raise ValueError("unknown variant " + variant)
        self.dialect = dialect
        self.path = PATHS[dialect]
        self.body = BODIES[dialect]
        self.client = httpx.AsyncClient(
            base_url=base, verify=common.ssl_context() or True, http2=common.HTTP2,
            timeout=httpx.Timeout(600.0, connect=60.0, pool=600.0),
            limits=httpx.Limits(max_connections=max(conc, 100) + 10,
                                max_keepalive_connections=max(conc, 20) + 10))

    async def visit(self, q, fn):
        loads = self.loads
        n = 0
        async with aconnect_sse(self.client, "POST", self.path, json=self.body,
                                params=q) as es:
            es.response.raise_for_status()
            if self.dialect == "openai":
                async for sse in es.aiter_sse():
                    if sse.data == "[DONE]":
                        break
                    choices = loads(sse.data)["choices"]
                    if choices:
                        t = choices[0]["delta"].get("content")
                        if t:
                            n += 1
                            fn(t)
            else:
                async for sse in es.aiter_sse():
                    if sse.event == "content_block_delta":
                        d = loads(sse.data)["delta"]
                        if d["type"] == "text_delta":
                            n += 1
                            fn(d["text"])
        return n

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        await self.client.aclose()
