"""aiohttp + orjson, two readers:
  (default)  `async for line in resp.content` (aiohttp's streaming docs), orjson.loads on each
             `data:` line;
  iter_any   the performance-minded one: `resp.content.iter_any()` (whatever bytes arrived),
             split by hand on b"\\n", orjson.loads on each `data:` line.
TLS: `TCPConnector(ssl=SSLContext)`, as aiohttp's client docs show."""
import aiohttp
import orjson

import common
from common import BODIES, PATHS, first_via_visit

DISTS = ("aiohttp", "orjson")


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if variant not in ("", "iter_any"):
            raise ValueError("unknown variant " + variant)
        self.iter_any = variant == "iter_any"
        self.dialect = dialect
        self.url = base + PATHS[dialect]
        self.body = orjson.dumps(BODIES[dialect])
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=common.ssl_context() or True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=60),
            headers={"content-type": "application/json"})

    @staticmethod
    async def _split(content):
        """Lines from iter_any() pieces: the hand split (a piece may end mid-line)."""
        rest = b""
        async for data in content.iter_any():
            lines = (rest + data).split(b"\n") if rest else data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line
        if rest:
            yield rest

    async def visit(self, q, fn):
        loads = orjson.loads
        n = 0
        async with self.session.post(self.url, data=self.body, params=q) as resp:
            resp.raise_for_status()
            lines = self._split(resp.content) if self.iter_any else resp.content
            if self.dialect == "openai":
                async for line in lines:
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
                async for line in lines:
                    if line.startswith(b"data: "):
                        d = loads(line[6:])
                        if (d["type"] == "content_block_delta"
                                and d["delta"]["type"] == "text_delta"):
                            n += 1
                            fn(d["delta"]["text"])
        return n

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        await self.session.close()
