"""tokenwire's Python binding as its README shows it:
    client = tokenwire.Client(base_url=..., dialect=...)
    async with client.stream("POST", path, json=body) as s: ...
Variants: (default) `async for ev in s` one event at a time, `text` = `async for t in s.text()`,
`batches` = `async for batch in s.batches()` (lists of events)."""
import tokenwire

import common
from common import BODIES, PATHS, first_via_visit

DISTS = ("tokenwire",)
TEXT = "text"


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if variant not in ("", "events", "text", "batches"):
            raise ValueError("unknown variant " + variant)
        self.variant = variant or "events"
        self.client = tokenwire.Client(base_url=base, dialect=dialect, ca_file=common.CA,
                                       http2=common.HTTP2)
        self.path = PATHS[dialect]
        self.body = BODIES[dialect]

    def _path(self, q):
        return self.path + ("?" + "&".join("%s=%s" % kv for kv in q.items()) if q else "")

    async def visit(self, q, fn):
        n = 0
        async with self.client.stream("POST", self._path(q), json=self.body) as s:
            if self.variant == "events":
                async for ev in s:
                    if ev.type == TEXT:
                        n += 1
                        fn(ev.text)
            elif self.variant == "text":
                async for t in s.text():
                    n += 1
                    fn(t)
            else:
                async for batch in s.batches():
                    for ev in batch:
                        if ev.type == TEXT:
                            n += 1
                            fn(ev.text)
        return n

    async def first(self, q):
        return await first_via_visit(self, q)

    async def aclose(self):
        close = getattr(self.client, "aclose", None) or getattr(self.client, "close", None)
        if close is not None:
            r = close()
            if hasattr(r, "__await__"):
                await r
