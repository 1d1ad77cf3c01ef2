"""LiteLLM as its docs show streaming: `await litellm.acompletion(model="openai/...", api_base=...,
stream=True)`, `async for chunk in response`, `chunk.choices[0].delta.content`. The mock's
controls go as `X-Mock-*` headers (litellm's documented `extra_headers`). TLS: the CA file
through `litellm.ssl_verify`, as its docs say for a custom CA bundle."""
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

import litellm  # noqa: E402

import common  # noqa: E402
from common import MESSAGES, MODEL, first_via_visit  # noqa: E402

DISTS = ("litellm", "openai", "httpx")


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if dialect != "openai" or variant:
            raise ValueError("the litellm peer speaks the openai dialect, no variant")
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        if common.CA:
            litellm.ssl_verify = common.CA
        self.api_base = base + "/v1"

    async def visit(self, q, fn):
        n = 0
        resp = await litellm.acompletion(
            model="openai/" + MODEL, messages=MESSAGES, api_base=self.api_base,
            api_key="bench", stream=True, num_retries=0, timeout=600,
            extra_headers={"X-Mock-" + k.replace("_", "-"): v for k, v in q.items()})
        async for chunk in resp:
            if chunk.choices:
                t = chunk.choices[0].delta.content
                if t:
                    n += 1
                    fn(t)
        return n

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        pass
