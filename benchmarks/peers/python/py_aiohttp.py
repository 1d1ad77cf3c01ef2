"""aiohttp reading the body line by line (`async for line in resp.content`, as aiohttp's
streaming-response docs show) and orjson.loads on each `data:` line."""
import aiohttp
import orjson

from common import BODIES, PATHS, first_via_visit

DISTS = ("aiohttp", "orjson")


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if variant:
            raise ValueError("unknown variant " + variant)
        self.dialect = dialect
        self.url = base + PATHS[dialect]
        self.body = orjson.dumps(BODIES[dialect])
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=60),
            headers={"content-type": "application/json"})

    async def count(self, q):
        loads = orjson.loads
        n = nchars = 0
        async with self.session.post(self.url, data=self.body, params=q) as resp:
            resp.raise_for_status()
            if self.dialect == "openai":
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        if line.startswith(b"data: [DONE]"):
                            break
                        choices = loads(line[6:])["choices"]
                        if choices:
                            t = choices[0]["delta"].get("content")
                            if t:
                                n += 1
                                nchars += len(t)
            else:
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        d = loads(line[6:])
                        if d["type"] == "content_block_delta" and d["delta"]["type"] == "text_delta":
                            n += 1
                            nchars += len(d["delta"]["text"])
        return n, nchars

    async def visit(self, q, fn):
        loads = orjson.loads
        n = 0
        async with self.session.post(self.url, data=self.body, params=q) as resp:
            resp.raise_for_status()
            if self.dialect == "openai":
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        if line.startswith(b"data: [DONE]"):
                            break
                        choices = loads(line[6:])["choices"]
                        if choices:
                            t = choices[0]["delta"].get("content")
                            if t:
                                n += 1
                                fn(t)
            else:
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        d = loads(line[6:])
                        if d["type"] == "content_block_delta" and d["delta"]["type"] == "text_delta":
                            n += 1
                            fn(d["delta"]["text"])
        return n

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        await self.session.close()
