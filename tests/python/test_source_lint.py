"""Source lints of the extension (msgspec style): comment style, paired GIL releases, GC
tracking, type names, and the public names the package promises."""
import os
import re

import tokenwire

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "python", "src")


def sources():
    out = {}
    for name in sorted(os.listdir(SRC)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(SRC, name)) as f:
                out[name] = f.read()
    assert "module.c" in out and "stream.c" in out
    return out


def strip_strings(text):
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def test_no_line_comments_and_100_columns():
    for name, text in sources().items():
        code = strip_strings(text)
        assert "//" not in code, name
        for i, line in enumerate(text.splitlines(), 1):
            assert len(line) <= 100, "%s:%d is %d columns" % (name, i, len(line))


def test_gil_release_paired():
    for name, text in sources().items():
        assert text.count("Py_BEGIN_ALLOW_THREADS") == text.count("Py_END_ALLOW_THREADS"), name


def test_gc_types_untrack_in_dealloc():
    for name, text in sources().items():
        for m in re.finditer(r"PyTypeObject (\w+)_Type = \{(.*?)\n\};", text, re.S):
            body = m.group(2)
            if "Py_TPFLAGS_HAVE_GC" not in body:
                continue
            tname = m.group(1)
            assert ".tp_traverse" in body and ".tp_clear" in body, tname
            dealloc = re.search(r"static void %s_dealloc\(.*?\n\}" % tname, text, re.S)
            assert dealloc and "PyObject_GC_UnTrack" in dealloc.group(0), tname


def test_public_names():
    for name in ["SSEParser", "SSEEvent", "Decoder", "Encoder", "Event", "Client", "Stream",
                 "merge", "Timeout", "Error", "HTTPError", "TimeoutError", "ProtocolError",
                 "ProviderError", "AbortError", "TransportError", "TruncatedError"]:
        assert hasattr(tokenwire, name), name
    for exc in [tokenwire.HTTPError, tokenwire.TimeoutError, tokenwire.ProtocolError,
                tokenwire.ProviderError, tokenwire.AbortError, tokenwire.TransportError,
                tokenwire.TruncatedError]:
        assert issubclass(exc, tokenwire.Error) and exc.__module__ == "tokenwire"
        assert exc.__doc__
    assert issubclass(tokenwire.TimeoutError, TimeoutError)
    pkg = os.path.dirname(tokenwire.__file__)
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    assert os.path.exists(os.path.join(pkg, "_native.pyi"))
