"""openai-python as its README shows it: AsyncOpenAI, chat.completions.create(stream=True),
iterate the chunks, read choices[0].delta.content."""
import httpx2 as httpx  # the transport this SDK version is built on
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

import common
from common import MESSAGES, MODEL, first_via_visit

DISTS = ("openai", "httpx2", "pydantic")


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if dialect != "openai":
            raise ValueError("the openai SDK speaks the openai dialect only")
        # Fan-in needs more than the SDK's default pool (1,000 connections): raise it the way
        # the SDK documents (a custom http_client built from DefaultAsyncHttpxClient).
        limits = httpx.Limits(max_connections=max(conc, 100) + 10,
                              max_keepalive_connections=max(conc, 20) + 10)
        self.client = AsyncOpenAI(base_url=base + "/v1", api_key="bench", max_retries=0,
                                  timeout=httpx.Timeout(600.0, connect=60.0, pool=600.0),
                                  http_client=DefaultAsyncHttpxClient(
                                      limits=limits, verify=common.ssl_context() or True))

    async def _create(self, q):
        return await self.client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_query=q)

    async def visit(self, q, fn):
        n = 0
        stream = await self._create(q)
        async for chunk in stream:
            if chunk.choices:
                t = chunk.choices[0].delta.content
                if t:
                    n += 1
                    fn(t)
        return n

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        await self.client.close()
