"""Several event loops in several threads sharing one tokenwire.Client (run by test_loops.py).

usage: loops_worker.py BASE_URL THREADS STREAMS_PER_THREAD

Each thread runs its own loop (thread 0 under uvloop, the others under asyncio.run): plain
event iteration, text() views, concurrent gathers and a merge, all against the mock server,
every stream checked for its exact text. Prints "ok <streams>" on success; any mismatch or
exception makes the exit status non-zero.
"""
import asyncio
import sys
import threading
import traceback

import tokenwire as tw
from tokenwire import _tools

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def main():
    base, n_threads, n_streams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = tw.Client(base_url=base, max_retries=0, timeout=60)
    done = []
    failures = []
    # A stream started with no running loop, consumed in a loop thread below.
    outside = client.stream("POST", "/v1/chat/completions?chunks=9", json=BODY)

    async def one(tid, j):
        chunks = 3 + (j * 7 + tid) % 23
        path = "/v1/chat/completions?chunks=%d&delay_ms=%s" % (chunks, "0.3" if j % 2 else "0")
        want = _tools.expected_text(chunks)
        if j % 3 == 0:
            async with client.stream("POST", path, json=BODY) as s:
                got = "".join([t async for t in s.text()])
        else:
            async with client.stream("POST", path, json=BODY) as s:
                got = "".join([ev.text async for ev in s if ev.type == "text"])
        if got != want or s.error is not None:
            raise AssertionError("thread %d stream %d: %r != %r (%r)" % (tid, j, got, want,
                                                                       s.error))
        return 1

    async def merged(tid):
        m = tw.merge({
            "a": client.stream("POST", "/v1/chat/completions?chunks=11&delay_ms=0.5", json=BODY),
            "b": client.stream("POST", "/v1/chat/completions?chunks=13", json=BODY),
        })
        texts = {"a": [], "b": []}
        async with m:
            async for ev in m:
                if ev.type == "text":
                    texts[ev.source].append(ev.text)
        for name, n in (("a", 11), ("b", 13)):
            if "".join(texts[name]) != _tools.expected_text(n):
                raise AssertionError("thread %d merge %s incomplete" % (tid, name))
        return 2

    async def run_thread(tid):
        count = 0
        # Sequential, then concurrent, then a merge, twice, so loops overlap in every phase.
        for rnd in range(2):
            for j in range(n_streams // 4):
                count += await one(tid, j)
            res = await asyncio.gather(*(one(tid, j) for j in range(n_streams // 4)))
            count += sum(res)
            count += await merged(tid)
        if tid == 1:
            got = "".join([t async for t in outside.text()])
            if got != _tools.expected_text(9):
                raise AssertionError("stream started outside any loop: %r" % got)
            count += 1
        return count

    def thread_main(tid):
        try:
            if tid == 0:
                import uvloop

                loop = uvloop.new_event_loop()
                try:
                    n = loop.run_until_complete(run_thread(tid))
                finally:
                    loop.close()
            else:
                n = asyncio.run(run_thread(tid))
            done.append(n)
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        for f in failures:
            sys.stderr.write(f)
        sys.exit(1)
    # A synchronous stream from a plain thread still works next to the loops' sinks.
    with client.stream_sync("POST", "/v1/chat/completions?chunks=5", json=BODY) as s:
        if "".join(s.text()) != _tools.expected_text(5):
            sys.exit("sync stream incomplete")
    print("ok %d" % sum(done), flush=True)


if __name__ == "__main__":
    main()
