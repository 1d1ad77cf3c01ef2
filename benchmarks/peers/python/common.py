"""Shared request shapes for the Python peers (kept identical across peers)."""
import time

MODEL = "bench-model"
MESSAGES = [{"role": "user", "content": "Tell me a long story."}]
OPENAI_BODY = {"model": MODEL, "messages": MESSAGES, "stream": True}
ANTHROPIC_BODY = {"model": MODEL, "max_tokens": 1024, "messages": MESSAGES, "stream": True}
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
BODIES = {"openai": OPENAI_BODY, "anthropic": ANTHROPIC_BODY}
perf = time.perf_counter


def url_with_query(base, dialect, q):
    return base + PATHS[dialect] + ("?" + "&".join("%s=%s" % kv for kv in q.items()) if q else "")


async def first_via_visit(peer, q):
    """Time to the first text delta delivered to user code: (perf_counter at it, deltas)."""
    tf = []

    def mark(_t):
        if not tf:
            tf.append(perf())

    n = await peer.visit(q, mark)
    return (tf[0] if tf else None), n

# TLS and HTTP/2, set by peer.py from --ca / --http2 before a peer is built (one run = one
# configuration). Every peer passes the CA the way its own docs say (ssl= / verify= / ca_file).
CA = None
HTTP2 = False


def ssl_context():
    """An SSLContext trusting the bench's local CA, or None for plain HTTP."""
    if not CA:
        return None
    import ssl
    return ssl.create_default_context(cafile=CA)
