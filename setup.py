"""Build of the tokenwire Python package.

Two extensions share one compile of the C core (csrc/, found against the system libcurl and
simdjson with pkg-config):
  tokenwire._native  the core + the CPython binding (python/src/): what `import tokenwire` loads
  tokenwire._tools   the `tokenwire` command line and the mock LLM server (tools/ +
                     python/tools/): loaded only by the console script and the test suites
The core is C11 except the simdjson wrapper (C++17), so the compiler gets a per-language -std
flag. Only each module's init symbol is exported (TW_STATIC + -fvisibility=hidden). Warnings
are errors only when TW_WERROR=1 (the test suites and CI set it), never in a user's install.
The version is package.json's.
"""
import glob
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
PKGS = ["libcurl", "simdjson", "hiredis"]
MISSING = (
    "tokenwire: building from source needs a C/C++ compiler, pkg-config, libcurl, simdjson and "
    "hiredis (%s). On Debian/Ubuntu: apt-get install build-essential pkg-config "
    "libcurl4-openssl-dev libsimdjson-dev libhiredis-dev. Prebuilt wheels need none of this: "
    "pip install --only-binary tokenwire tokenwire"
)


def rel(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def version():
    with open(os.path.join(ROOT, "package.json"), encoding="utf-8") as f:
        return json.load(f)["version"]


def pkg_config(flag):
    try:
        out = subprocess.check_output(["pkg-config", flag] + PKGS, text=True,
                                      stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        sys.exit(MISSING % detail.strip())
    return shlex.split(out)


CORE = [p for pat in ("csrc/*.c", "csrc/*.cc", "csrc/dialects/*.c", "csrc/encoders/*.c",
                      "csrc/engine/*.c", "csrc/tee/*.c") for p in rel(pat)]
TOOLS = rel("tools/mock/*.c") + [p for p in rel("tools/cli/*.c") if not p.endswith("main.c")]

# Everything an extension is built from beyond its own sources: build_ext relinks it only when
# one of its sources or depends is newer than the built module, and the core's objects come in
# as extra_objects, so without this a change in csrc/ alone would ship the previous core.
HEADERS = [p for pat in ("csrc/*.h", "csrc/*/*.h", "tools/*/*.h", "python/src/*.h")
           for p in rel(pat)]
DEPENDS = CORE + HEADERS

WARN = ["-Wall", "-Wextra"] + (["-Werror"] if os.environ.get("TW_WERROR") == "1" else [])
C_STD = ["-std=c11"]
CXX_STD = ["-std=c++17", "-fno-exceptions"]
VERSION = version()


class BuildExt(build_ext):
    """Compiles the core once (in parallel) and links it into both extensions; .cc as C++17."""

    def build_extensions(self):
        cc = self.compiler
        if ".cc" not in cc.src_extensions:
            cc.src_extensions.append(".cc")
        # Flags only valid for C (CPython's configure adds some) would warn under C++.
        c_only = {"-Wstrict-prototypes", "-Wmissing-prototypes", "-std=c99", "-std=c11"}
        original = cc._compile

        def _compile(obj, src, ext, cc_args, extra_postargs, pp_opts):
            saved = cc.compiler_so
            if src.endswith(".cc"):
                cc.compiler_so = [a for a in saved if a not in c_only]
                extra = list(extra_postargs) + CXX_STD
            else:
                extra = list(extra_postargs) + C_STD
            try:
                original(obj, src, ext, cc_args, extra, pp_opts)
            finally:
                cc.compiler_so = saved

        cc._compile = _compile
        first = self.extensions[0]
        core_objs = self._compile_parallel(CORE, first)
        for ext in self.extensions:
            ext.extra_objects = core_objs + list(ext.extra_objects or [])
        # One extension at a time: they share the core's objects.
        self.parallel = None
        super().build_extensions()

    def _compile_parallel(self, sources, ext):
        def one(src):
            return self.compiler.compile(
                [src], output_dir=self.build_temp, macros=ext.define_macros,
                include_dirs=ext.include_dirs, debug=self.debug,
                extra_postargs=ext.extra_compile_args, depends=ext.depends)[0]

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return list(pool.map(one, sources))


def extension(name, sources, include_dirs):
    return Extension(
        name,
        sources=sources,
        include_dirs=["csrc", "tools"] + include_dirs,
        depends=DEPENDS + (TOOLS if name.endswith("_tools") else []),
        define_macros=[("_GNU_SOURCE", "1"), ("TW_STATIC", "1"),
                       ("TW_VERSION_STRING", '"%s"' % VERSION)],
        extra_compile_args=WARN + ["-O2", "-pthread", "-fvisibility=hidden"]
        + [f for f in pkg_config("--cflags") if f.startswith(("-I", "-D"))],
        # Static archives' symbols (if a build links any) are not re-exported either.
        extra_link_args=["-pthread", "-Wl,--exclude-libs,ALL"] + pkg_config("--libs"),
        language="c++",
    )


setup(
    version=VERSION,
    package_dir={"": "python"},
    packages=["tokenwire"],
    package_data={"tokenwire": ["py.typed", "*.pyi"]},
    ext_modules=[
        extension("tokenwire._native", rel("python/src/*.c"), ["python/src"]),
        extension("tokenwire._tools", rel("python/tools/*.c") + TOOLS, []),
    ],
    cmdclass={"build_ext": BuildExt},
    # make uses out/c, node-gyp build/: setuptools gets a folder of its own.
    options={"build": {"build_base": "out/setuptools"}},
)
