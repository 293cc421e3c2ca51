#!/usr/bin/python3
"""Writes cmake/library_load_order.txt, the order in which our executables name their shared
libraries, by file name. Run it again (with Debian's /usr/bin/python3) after the LibTorch or OpenCV
packages change; CMake finds each name in the system's library folders (find_library) and skips
names that no longer exist.

Why: Debian's LibTorch pulls in about 290 shared libraries (caffe2's OpenCV video and GDAL
stacks among them), and the dynamic loader looks every symbol reference up in load order. The
C++ libraries deep in that tree (xerces, geos, gdal, crypto...) bind mostly to their own symbols,
so an average lookup checked 87 libraries: about 0.04 s of every process start. Listing the
libraries that receive the most bindings first cuts that to about 22.

A different order may bind a symbol defined in several libraries to another of them. That is
harmless for vague-linkage symbols (templates and inline functions, identical in every copy),
but not for real definitions (liblapack and libopenblas both define LAPACK), so wherever a
strong symbol's binding would change, the library it bound to before is moved ahead, and the
script checks the final order binds every strong symbol exactly as the default order does.

Usage: scripts/library_load_order.py [output file]
       scripts/library_load_order.py --check build/cyclegan   (a ctest: same strong bindings?)
"""
import collections
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the cyclegan executable links directly, in CMake's order.
DIRECT = ["torch", "torch_cpu", "c10", "opencv_imgcodecs", "opencv_imgproc", "opencv_core",
          "yaml-cpp", "spdlog", "fmt", "dnnl"]
BINDING = re.compile(r"binding file (\S+) \[0\] to (\S+) \[0\]: normal symbol `([^']*)'")


def loader_trace(program, what, preload=None):
    """The dynamic loader's LD_DEBUG=`what` report of one start of `program` (with --version),
    with `preload` loaded ahead of its own libraries."""
    env = dict(os.environ, LD_DEBUG=what)
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    return subprocess.run([program, "--version"], env=env, capture_output=True, text=True,
                          check=True).stderr


def bindings(program, preload=None):
    """{(referencing file, symbol): defining file} of one start of `program`."""
    found = {}
    for line in loader_trace(program, "bindings", preload).splitlines():
        match = BINDING.search(line)
        if match:
            found[(match.group(1), match.group(3))] = match.group(2)
    return found


STRONG_CACHE = {}


def is_strong(library, symbol):
    """Whether `library` defines `symbol` as a real (not weak or unique) global."""
    if library not in STRONG_CACHE:
        listing = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True,
                                 text=True, check=True).stdout
        kinds = {}
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) >= 3:
                kinds[fields[2].split("@")[0]] = fields[1]
        STRONG_CACHE[library] = kinds
    return STRONG_CACHE[library].get(symbol, "W") not in ("W", "V", "u", "w", "v")


def build_probe(folder):
    """An empty program linking what cyclegan links, in the default order."""
    probe = os.path.join(folder, "probe")
    source = os.path.join(folder, "probe.cpp")
    with open(source, "w") as f:
        f.write("int main() { return 0; }\n")
    subprocess.run(["g++", source, "-o", probe, "-Wl,--no-as-needed",
                    *["-l" + name for name in DIRECT]], check=True)
    return probe


def strong_changes(default, now):
    """The bindings of real definitions that differ: {(file, symbol): (before, now)}."""
    return {key: (default[key], now[key]) for key in now
            if key in default and default[key] != now[key] and is_strong(default[key], key[1])}


def check(program):
    """Exits non-zero when `program` binds a real definition differently from the default order."""
    with tempfile.TemporaryDirectory() as folder:
        default = bindings(build_probe(folder))
    # Data the program itself uses (stderr, std::cout) is copied into it, and every library binds
    # to that copy: so it is with any executable, whatever the order.
    now = {key: library for key, library in bindings(program).items()
           if os.path.realpath(library) != os.path.realpath(program)}
    changed = strong_changes(default, now)
    for (file, symbol), (before, after) in sorted(changed.items())[:20]:
        print(f"{file}: {symbol} binds to {after}, in the default order to {before}")
    shared = sum(1 for key in now if key in default)
    print(f"{program}: {len(changed)} of {shared} shared bindings of real definitions changed")
    sys.exit(1 if changed or shared < 0.9 * len(default) else 0)


def main(output):
    with tempfile.TemporaryDirectory() as folder:
        probe = build_probe(folder)
        default = bindings(probe)
        counts = collections.Counter(library for library in default.values())
        # The loader and the kernel's vDSO come first whatever the executable names.
        order = [library for library, _ in counts.most_common()
                 if library != probe and "/ld-linux" not in library and "linux-vdso" not in library]
        for _ in range(20):
            changed = strong_changes(default, bindings(probe, order))
            if not changed:
                break
            for before, after in sorted(set(changed.values())):
                if order.index(before) > order.index(after):
                    order.remove(before)
                    order.insert(order.index(after), before)
        else:
            sys.exit("library_load_order: no order keeps every strong binding")
        checks_default = lookups(probe)
        checks_ordered = lookups(probe, order)
    with open(output, "w") as f:
        f.write("# Written by scripts/library_load_order.py (see there why): the shared libraries\n"
                "# our executables name first, most bound-to first. Lookups per start: "
                f"{checks_default} -> {checks_ordered}.\n")
        for library in order:
            f.write(os.path.basename(library) + "\n")
    print(f"{output}: {len(order)} libraries; library checks per start {checks_default} -> "
          f"{checks_ordered}")


def lookups(program, preload=None):
    """How many libraries the dynamic loader checks over all symbol lookups of one start."""
    return loader_trace(program, "symbols", preload).count("lookup in file=")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else
             os.path.join(ROOT, "cmake", "library_load_order.txt"))
