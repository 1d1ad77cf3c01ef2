"""Smoke test of an installed wheel (scripts/test-dist.sh runs it in a venv, with no compiler
and no system libcurl around): import without the tools module, ldd of every binary, the
`tokenwire` console script, a stream from the mock, and a relay through FastAPI + uvicorn."""
import asyncio
import os
import socket
import subprocess
import sys
import sysconfig

WORK = sys.argv[1]
os.makedirs(WORK, exist_ok=True)
SITE = sysconfig.get_paths()["purelib"]
BIN = os.path.dirname(sys.executable)
# What a manylinux wheel may take from the system (the manylinux policy's list, of which
# tokenwire uses these): glibc, the C++ runtime and zlib.
SYSTEM = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so",
          "librt.so", "libresolv.so", "libutil.so", "libstdc++.so", "libgcc_s.so", "libz.so")


def fail(msg):
    sys.exit("smoke: FAIL: " + msg)


# 1. import tokenwire maps neither the mock nor the CLI.
import tokenwire as tw  # noqa: E402

if "tokenwire._tools" in sys.modules:
    fail("import tokenwire loaded tokenwire._tools")
with open("/proc/self/maps") as f:
    maps = f.read()
if "_tools" in maps:
    fail("import tokenwire mapped the tools module")
if "/usr/lib/x86_64-linux-gnu/libcurl" in maps:
    fail("the system libcurl was mapped")

# 2. Every non-glibc library of every binary resolves inside the installed package.
bins = []
for d, _, files in os.walk(SITE):
    if os.path.basename(d).startswith("tokenwire"):
        bins += [os.path.join(d, n) for n in files if ".so" in n]
if not any("_native" in b for b in bins) or not any("_tools" in b for b in bins):
    fail("binaries missing: %s" % bins)
for b in bins:
    out = subprocess.run(["ldd", b], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if "=>" not in parts:
            continue
        name, target = parts[0], parts[parts.index("=>") + 1]
        if target == "not":
            fail("%s: %s not found" % (b, name))
        if not name.startswith(SYSTEM) and not os.path.realpath(target).startswith(SITE):
            fail("%s: %s resolves outside the package (%s)" % (b, name, target))
print("smoke: %d binaries, every library inside the package" % len(bins))
# Each module exports its init function and nothing else (the core is TW_STATIC + hidden).
for b in bins:
    if os.path.basename(b).startswith(("_native", "_tools")):
        out = subprocess.run(["nm", "-D", "--defined-only", b], capture_output=True, text=True,
                             check=True).stdout.split()
        names = [w for w in out if not all(c in "0123456789abcdef" for c in w) and len(w) > 1]
        if names != ["PyInit_" + os.path.basename(b).split(".")[0]]:
            fail("%s exports %s" % (b, names[:10]))

# 3. The console script runs the mock; its first line names the port.
mock = subprocess.Popen([os.path.join(BIN, "tokenwire"), "mock", "--port", "0"],
                        stdout=subprocess.PIPE, text=True)
try:
    line = mock.stdout.readline()
    if "listening on http://" not in line:
        fail("tokenwire mock said %r" % line)
    base = line.split("listening on ", 1)[1].strip()
    from tokenwire import _tools  # the tests' and the CLI's module; loads on demand

    want = _tools.expected_text(12)
    client = tw.Client(base_url=base + "/v1", api_key="k", max_retries=0)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

    async def direct():
        async with client.stream("POST", "/chat/completions?chunks=12", json=body) as s:
            return "".join([t async for t in s.text()])

    got = asyncio.run(direct())
    if got != want:
        fail("stream text %r != %r" % (got, want))

    # 4. A FastAPI relay under uvicorn (its own process), read with httpx.
    app = os.path.join(WORK, "relay_app.py")
    with open(app, "w") as f:
        f.write(
            "import tokenwire as tw\n"
            "from fastapi import FastAPI\n"
            "from tokenwire.fastapi import sse_response\n"
            "app = FastAPI()\n"
            "client = tw.Client(base_url=%r, api_key='k', max_retries=0)\n"
            "@app.post('/chat')\n"
            "async def chat():\n"
            "    s = client.stream('POST', '/chat/completions?chunks=12', json=%r)\n"
            "    return sse_response(s, format='text')\n" % (base + "/v1", body))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--fd", str(sock.fileno()), "--app-dir", WORK,
         "--log-level", "warning", "relay_app:app"], pass_fds=[sock.fileno()])
    sock.close()
    try:
        import httpx

        # uvicorn accepts on the inherited socket once it is up: connections queue until then.
        with httpx.Client(timeout=60) as h:
            r = h.post("http://127.0.0.1:%d/chat" % port)
        if r.status_code != 200 or r.text != want:
            fail("relay answered %d %r" % (r.status_code, r.text[:200]))
    finally:
        server.terminate()
        server.wait(timeout=30)
finally:
    mock.terminate()
    mock.wait(timeout=30)
print("smoke: tokenwire %s: console script, stream and FastAPI relay ok" % tw.__version__)
