#!/usr/bin/env python3
"""Checks the layer rules of src/README.md on the sources and the objects.

  check_layers.py SRC_DIR BUILD_DIR

1. Includes: a file in src/<layer>/ includes its own layer's headers, the
   headers of the layers it may use, and the public headers (segaudit/...,
   for their types); the program (src/cli/) includes only public headers
   and its own.
2. Calls: every symbol an object of the library uses from another object
   (read with nm from BUILD_DIR/libsegaudit.a) is defined in its own layer
   or in one it may use; the program's objects use only public symbols
   (segaudit_...).
3. No cycle: the graph of calls between the library's source files has no
   cycle.

Prints every violation and exits 1, or prints a summary and exits 0.
"""
import os
import re
import subprocess
import sys

# What each layer may use, besides itself (keep in step with src/README.md).
ALLOWED = {
    "common": set(),
    "io": {"common"},
    "kernel": {"common"},
    "engine": {"common", "io", "kernel"},
    "eval": {"common"},
    "render": {"common", "io"},
    "api": {"common", "engine", "eval", "render"},
    "report": {"common", "api", "render"},
    "synth": {"common", "io"},
    "cli": set(),
    "python": set(),  # the Python module: public headers only, like cli
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def check_includes(src, problems):
    files = 0
    for layer in sorted(ALLOWED):
        folder = os.path.join(src, layer)
        if not os.path.isdir(folder):
            problems.append(f"src/{layer}/: missing layer folder")
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            files += 1
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                if inc.startswith("segaudit/"):
                    continue
                if "/" not in inc:
                    if os.path.exists(os.path.join(folder, inc)):
                        continue
                    problems.append(f"src/{layer}/{name}: includes \"{inc}\" "
                                    "without its layer folder")
                    continue
                dep = inc.split("/", 1)[0]
                if dep == layer or dep in ALLOWED[layer]:
                    continue
                problems.append(f"src/{layer}/{name}: includes \"{inc}\", but "
                                f"{layer}/ may not use {dep}/")
    return files


def object_layer(obj):
    """'src_engine_pass.c.o' -> ('engine', 'engine/pass.c')."""
    m = re.match(r"src_([a-z]+)_(.+)\.o$", obj)
    if m and m.group(1) in ALLOWED:
        return m.group(1), f"{m.group(1)}/{m.group(2)}"
    # generated sources are named after the folder that generates them
    for layer in ALLOWED:
        if f"src_{layer}_" in obj or f"src/{layer}/" in obj:
            return layer, f"{layer}/{obj}"
    return None, obj


def nm(path):
    """{object: (defined symbols, undefined symbols)} of an archive or an
    object file."""
    out = subprocess.run(["nm", "-A", "-P", path], check=True,
                         capture_output=True, text=True).stdout
    objs = {}
    for line in out.splitlines():
        # "lib.a[obj.o]: sym T value size" or "obj.o: sym U"
        m = re.match(r"(.*?)(?:\[([^\]]+)\])?: (\S+) (\S)", line)
        if not m:
            continue
        obj = m.group(2) or os.path.basename(m.group(1))
        sym, kind = m.group(3), m.group(4)
        d, u = objs.setdefault(obj, (set(), set()))
        if kind == "U":
            u.add(sym)
        elif kind.isupper() or kind in "vw":
            d.add(sym)
    return objs


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_calls(build, problems):
    lib = nm(os.path.join(build, "libsegaudit.a"))
    owner = {}
    for obj, (defs, _) in lib.items():
        for s in defs:
            owner[s] = obj
    graph = {}
    edges = 0
    for obj, (_, undef) in sorted(lib.items()):
        layer, name = object_layer(obj)
        if layer is None:
            problems.append(f"{obj}: object of no known layer")
            continue
        for s in sorted(undef):
            if s not in owner:
                continue  # a system library's
            dlayer, dname = object_layer(owner[s])
            if dname == name:
                continue
            edges += 1
            graph.setdefault(name, set()).add(dname)
            if dlayer != layer and dlayer not in ALLOWED[layer]:
                problems.append(f"{name} calls {s} of {dname}, but {layer}/ "
                                f"may not use {dlayer}/")
    for comp in cycles(graph):
        problems.append("cycle of calls between " + ", ".join(comp))

    cli_dir = os.path.join(build, "segaudit.p")
    cli_objs = [f for f in sorted(os.listdir(cli_dir)) if f.endswith(".o")]
    if not cli_objs:
        problems.append(f"{cli_dir}: no objects of the program")
    for obj in cli_objs:
        _, undef = nm(os.path.join(cli_dir, obj))[obj]
        for s in sorted(undef):
            if s in owner and not s.startswith("segaudit_"):
                problems.append(f"cli/{obj}: uses {s} of "
                                f"{object_layer(owner[s])[1]}, which is not "
                                "public")
    return len(lib), edges


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    src, build = sys.argv[1], sys.argv[2]
    problems = []
    files = check_includes(src, problems)
    objs, edges = check_calls(build, problems)
    for p in problems:
        print("layer rule broken: " + p)
    if problems:
        return 1
    print(f"layers: {files} source files, {objs} objects, {edges} calls "
          "between files, no wrong-way include or call, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
