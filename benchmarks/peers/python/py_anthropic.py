"""anthropic-sdk-python as its README shows it. Variants:
  (default)  messages.create(stream=True), iterate the events, read content_block_delta text
  helper     messages.stream(...) as stream, iterate stream.text_stream (the README's helper)"""
import httpx2 as httpx  # the transport this SDK version is built on
from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

import common
from common import MESSAGES, MODEL, first_via_visit

DISTS = ("anthropic", "httpx2", "pydantic")


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if dialect != "anthropic":
            raise ValueError("the anthropic SDK speaks the anthropic dialect only")
        limits = httpx.Limits(max_connections=max(conc, 100) + 10,
                              max_keepalive_connections=max(conc, 20) + 10)
        self.client = AsyncAnthropic(base_url=base, api_key="bench", max_retries=0,
                                     timeout=httpx.Timeout(600.0, connect=60.0, pool=600.0),
                                     http_client=DefaultAsyncHttpxClient(
                                         limits=limits, verify=common.ssl_context() or True))
        self.helper = variant == "helper"
        if variant not in ("", "helper"):
            raise ValueError("unknown variant " + variant)

    async def _texts_create(self, q, fn):
        n = 0
        stream = await self.client.messages.create(model=MODEL, max_tokens=1024,
                                                   messages=MESSAGES, stream=True,
                                                   extra_query=q)
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                n += 1
                fn(event.delta.text)
        return n

    async def _texts_helper(self, q, fn):
        n = 0
        async with self.client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES,
                                               extra_query=q) as stream:
            async for text in stream.text_stream:
                n += 1
                fn(text)
        return n

    async def visit(self, q, fn):
        if self.helper:
            return await self._texts_helper(q, fn)
        return await self._texts_create(q, fn)

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        await self.client.close()
