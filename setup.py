"""Build of the tokenwire Python package.

The extension tokenwire._native compiles the C core (csrc/) together with the CPython binding
(python/src/) against the system libcurl and simdjson, found with pkg-config. The core is C11
except the simdjson wrapper (C++17), so the compiler gets a per-language -std flag.
"""
import glob
import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
PKGS = ["libcurl", "simdjson"]


def rel(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def pkg_config(flag):
    try:
        out = subprocess.check_output(["pkg-config", flag] + PKGS, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(
            "tokenwire: pkg-config could not find %s (%s). On Debian: "
            "apt-get install pkg-config libcurl4-openssl-dev libsimdjson-dev" % (PKGS, exc)
        )
    return shlex.split(out)


def sources():
    core = []
    for pat in ("csrc/*.c", "csrc/*.cc", "csrc/dialects/*.c", "csrc/encoders/*.c",
                "csrc/engine/*.c", "csrc/mock/*.c", "csrc/cli/*.c"):
        core += rel(pat)
    core = [p for p in core if os.path.basename(p) != "main.c" or "cli" not in p]
    return rel("python/src/*.c") + core


# Our own sources are held to the house warnings; Python's own flags come from sysconfig.
WARN = ["-Wall", "-Wextra", "-Werror"]
C_STD = ["-std=c11"]
CXX_STD = ["-std=c++17", "-fno-exceptions"]


class BuildExt(build_ext):
    """build_ext that compiles .cc as C++17 and .c as C11, in parallel."""

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
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1
        super().build_extensions()


ext = Extension(
    "tokenwire._native",
    sources=sources(),
    include_dirs=["csrc", "python/src"],
    define_macros=[("_GNU_SOURCE", "1")],
    extra_compile_args=WARN + ["-O2", "-pthread", "-fvisibility=hidden"]
    + [f for f in pkg_config("--cflags") if f.startswith(("-I", "-D"))],
    extra_link_args=["-pthread"] + pkg_config("--libs"),
    language="c++",
)

setup(
    package_dir={"": "python"},
    packages=["tokenwire"],
    package_data={"tokenwire": ["py.typed", "*.pyi"]},
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExt},
)
