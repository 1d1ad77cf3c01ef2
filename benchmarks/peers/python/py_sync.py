"""Synchronous clients (a thread per request, no event loop), each as its README shows it:
  tokenwire  `with client.stream_sync("POST", path, json=body) as s: for ev in s`
  openai     `OpenAI(...).chat.completions.create(stream=True)`, `for chunk in stream`
  httpx      `httpx.Client` + httpx-sse `connect_sse(...).iter_sse()` + orjson.loads
peer.py drives these with its sync workloads (SYNC = True): bulk, one paced stream, TTFT."""
import time

import common
from common import BODIES, MESSAGES, MODEL, PATHS

DISTS = ("tokenwire", "openai", "httpx", "httpx-sse", "orjson")
SYNC = True


class Peer:
    def __init__(self, base, dialect, conc, variant):
        if dialect != "openai":
            raise ValueError("the sync peers run the openai dialect")
        self.variant = variant
        self.path, self.body = PATHS[dialect], BODIES[dialect]
        if variant == "tokenwire":
            import tokenwire
            self.client = tokenwire.Client(base_url=base, dialect=dialect, ca_file=common.CA,
                                           http2=common.HTTP2)
            self.visit = self._tokenwire
        elif variant == "openai":
            import httpx2
            from openai import DefaultHttpxClient, OpenAI
            self.client = OpenAI(base_url=base + "/v1", api_key="bench", max_retries=0,
                                 timeout=httpx2.Timeout(600.0, connect=60.0),
                                 http_client=DefaultHttpxClient(
                                     verify=common.ssl_context() or True))
            self.visit = self._openai
        elif variant == "httpx":
            import httpx
            import orjson
            self.loads = orjson.loads
            self.client = httpx.Client(base_url=base, verify=common.ssl_context() or True,
                                       http2=common.HTTP2,
                                       timeout=httpx.Timeout(600.0, connect=60.0))
            self.visit = self._httpx
        else:
            raise ValueError("unknown variant %r (tokenwire, openai, httpx)" % variant)

    def _path(self, q):
        return self.path + ("?" + "&".join("%s=%s" % kv for kv in q.items()) if q else "")

    def _tokenwire(self, q, fn):
        n = 0
        with self.client.stream_sync("POST", self._path(q), json=self.body) as s:
            for ev in s:
                if ev.type == "text":
                    n += 1
                    fn(ev.text)
        return n

    def _openai(self, q, fn):
        n = 0
        stream = self.client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                     stream=True, extra_query=q)
        for chunk in stream:
            if chunk.choices:
                t = chunk.choices[0].delta.content
                if t:
                    n += 1
                    fn(t)
        return n

    def _httpx(self, q, fn):
        from httpx_sse import connect_sse
        loads = self.loads
        n = 0
        with connect_sse(self.client, "POST", self.path, json=self.body, params=q) as es:
            es.response.raise_for_status()
            for sse in es.iter_sse():
                if sse.data == "[DONE]":
                    break
                choices = loads(sse.data)["choices"]
                if choices:
                    t = choices[0]["delta"].get("content")
                    if t:
                        n += 1
                        fn(t)
        return n

    def first(self, q):
        tf = []

        def mark(_t):
            if not tf:
                tf.append(time.perf_counter())

        n = self.visit(q, mark)
        return (tf[0] if tf else None), n

    def close(self):
        close = getattr(self.client, "close", None)  # tokenwire's Client has nothing to close
        if close is not None:
            close()
