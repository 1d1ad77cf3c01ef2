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


def test_stubs_match_the_module():
    """_native.pyi names what the extension has: every public name and every method / property
    of the main types (the dict shapes and aliases are for type checkers only)."""
    import ast

    from tokenwire import _native

    pkg = os.path.dirname(tokenwire.__file__)
    with open(os.path.join(pkg, "_native.pyi")) as f:
        tree = ast.parse(f.read())
    typing_only = {"EventType", "ErrorKind", "Dialect", "FormatName", "AnyFormat",
                   "TemplateSpec", "FinishReason", "Auth",
                   "Buffer", "Callback", "ToolCall", "Usage", "Choice", "SummaryError",
                   "Summary"}
    stub = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            stub[node.name] = node
        elif isinstance(node, ast.AnnAssign):
            stub[node.target.id] = node
        elif isinstance(node, ast.Assign):
            stub[node.targets[0].id] = node
    public = {n for n in dir(_native) if not n.startswith("_")} - {"Done"}  # Done: internal
    assert public - set(stub) == set(), "missing in the stubs"
    assert set(stub) - typing_only - set(dir(_native)) == set(), "stubbed but absent"
    for name in ("Stream", "Event", "Decoder", "SSEParser", "Encoder", "Format", "merge",
                 "Engine"):
        defs = (ast.FunctionDef, ast.AsyncFunctionDef)
        members = {n.name if isinstance(n, defs) else n.target.id
                   for n in stub[name].body if isinstance(n, defs + (ast.AnnAssign,))}
        runtime = getattr(_native, name)
        assert {m for m in members if not hasattr(runtime, m)} == set(), name
        assert {m for m in dir(runtime) if not m.startswith("_")} - members == set(), name
