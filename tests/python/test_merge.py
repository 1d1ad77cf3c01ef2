"""merge() framing is the core's (tw_framer, tw_merge.h), the same for the events and for a relay
(the encoded path): agent_start just before a source's first event, its events tagged with the
source, its END not forwarded, its terminal error forwarded once, agent_complete right after
its terminal event. The sources here answer only when the test lets them (a source that is
late, one that fails), so the whole merged order is known."""
import json
import threading

import pytest

import tokenwire as tw
from helpers.rawserver import RawServer, respond

BODY = {"model": "m", "messages": []}


def sse(*texts):
    out = [b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":%s}}]}\n\n'
           % json.dumps(t).encode() for t in texts]
    out.append(b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},'
               b'"finish_reason":"stop"}]}\n\n')
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


EARLY, LATE = sse("a", "b"), sse("late")


class Gated:
    """A server answering /early at once, /fail (HTTP 500) and /late only once released."""

    def __init__(self):
        self.go = {"fail": threading.Event(), "late": threading.Event()}
        self.srv = RawServer(self.answer)

    def answer(self, conn, head, body):
        path = head.split(b" ")[1].decode()
        name = path.strip("/")
        if name in self.go:
            # Released by the test once the merged stream reached the point it pins; the
            # timeout only bounds a failing test.
            assert self.go[name].wait(30), name
        if name == "fail":
            respond(conn, "500 Internal Server Error", [("Content-Type", "application/json")],
                    b'{"error":{"message":"boom","type":"server_error"}}')
        else:
            respond(conn, "200 OK", [("Content-Type", "text/event-stream")],
                    EARLY if name == "early" else LATE)
        return False

    def release_after(self, source, etype):
        """What the consumer does at each merged event: agent_complete of early lets fail
        answer, agent_complete of fail lets late answer."""
        if etype == "agent_complete":
            nxt = {"early": "fail", "fail": "late"}.get(source)
            if nxt:
                self.go[nxt].set()

    def close(self):
        for ev in self.go.values():
            ev.set()
        self.srv.close()


@pytest.fixture
def gated():
    g = Gated()
    yield g
    g.close()


def inner(body):
    """The events of one source as the core decodes them, END left out (never forwarded)."""
    d = tw.Decoder("openai")
    evs = d.feed(body) + d.finish()
    assert evs[-1].type == "end"
    return [e.type for e in evs[:-1]]


def expected():
    out = [("early", "agent_start")] + [("early", t) for t in inner(EARLY)]
    out += [("early", "agent_complete"), ("fail", "agent_start"), ("fail", "error"),
            ("fail", "agent_complete"), ("late", "agent_start")]
    out += [("late", t) for t in inner(LATE)] + [("late", "agent_complete")]
    return out


def streams(g):
    c = tw.Client(base_url=g.srv.base, max_retries=0, timeout=30)
    return {name: c.stream("POST", "/" + name, json=BODY) for name in ("early", "fail", "late")}


def test_merged_events_order_late_and_failing_source(gated, run):
    async def main():
        got, texts, kinds = [], [], []
        async with tw.merge(streams(gated)) as m:
            async for ev in m:
                got.append((ev.source, ev.type))
                if ev.type == "text":
                    texts.append((ev.source, ev.text))
                if ev.type == "error":
                    kinds.append((ev.source, ev.kind, ev.status, ev.recoverable))
                gated.release_after(ev.source, ev.type)
        return got, texts, kinds

    got, texts, kinds = run(main())
    assert got == expected()
    assert texts == [("early", "a"), ("early", "b"), ("late", "late")]
    assert kinds == [("fail", "http", 500, False)]  # the terminal error, once


def test_merged_batches_follow_the_same_framing(gated, run):
    async def main():
        got = []
        async with tw.merge(streams(gated)) as m:
            async for batch in m.batches():
                for ev in batch:
                    got.append((ev.source, ev.type))
                    gated.release_after(ev.source, ev.type)
        return got

    assert run(main()) == expected()


def test_relay_of_a_merge_is_framed_by_the_core(gated, run):
    # ndjson: one line per event the framer emitted, in the same order as the events.
    async def main():
        lines, buf = [], b""
        m = tw.merge(streams(gated))
        async for chunk in m._encoded(tw.Encoder("ndjson"), 0.0):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                d = json.loads(line)
                lines.append((d.get("source"), d["type"]))
                gated.release_after(d.get("source"), d["type"])
        assert buf == b""
        return lines

    assert run(main()) == expected()


def test_events_relay_opens_and_closes_each_agent_once(gated, run):
    async def main():
        out = b""
        m = tw.merge(streams(gated))
        async for chunk in m._encoded(tw.Encoder("events"), 0.0):
            out += chunk
            for block in chunk.split(b"\n\n"):
                if block.startswith(b"event: agent_complete\n"):
                    agent = json.loads(block.split(b"data: ", 1)[1])["agent"]
                    gated.release_after(agent, "agent_complete")
        return out

    blocks = [b for b in run(main()).split(b"\n\n") if b]
    names = [(b.split(b"\n")[0][len(b"event: "):].decode(),
              json.loads(b.split(b"data: ", 1)[1]).get("agent")) for b in blocks]
    agents = [n for n in names if n[0] in ("agent_start", "agent_complete", "error")]
    assert agents == [("agent_start", "early"), ("agent_complete", "early"),
                      ("agent_start", "fail"), ("error", "fail"), ("agent_complete", "fail"),
                      ("agent_start", "late"), ("agent_complete", "late")]
    done = dict((n, json.loads(b.split(b"data: ", 1)[1])) for b in blocks
                for n in [b.split(b"\n")[0][len(b"event: "):].decode()]
                if n in ("complete",))
    assert done["complete"] == {"agents": 3, "errors": 1}
    assert names[-1] == ("complete", None)
