#!/usr/bin/env python3
"""Fail when an import in the gateway crate runs up the layer table or closes a loop.

Reads every `crate::`, `super::` and `self::` path in crates/rig/src (tests
excluded), resolves it to the file that defines it, and checks two rules:
1. a file's top-level module may only import modules on its own layer or a
   lower one (LAYERS below, top first);
2. no two files import each other, directly or through others (no cycles).
Run: python3 scripts/check-layers.py [--graph]
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "rig", "src")

# Top-level modules from the top floor down. A module may import its own
# floor or anything below; never above. Keep in step with docs/ARCHITECTURE.md.
LAYERS = [
    ["main"],
    ["lib"],
    ["app"],
    ["http"],
    ["server"],
    ["transport"],
    ["state"],
    ["session"],
    ["config"],
    ["proxy"],
    ["source"],
    ["cluster"],
    ["broker"],
    ["auth", "telemetry"],
    ["hub"],
    ["accept", "lifecycle", "limit", "per_ip", "cors", "tls", "token"],
    ["support"],
]


def layer_of(module):
    for i, names in enumerate(LAYERS):
        if module in names:
            return i
    return None


def rust_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d != "tests"]
        for f in filenames:
            if f.endswith(".rs") and f != "tests.rs":
                yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def module_of(rel):
    """crates/rig/src/a/b.rs -> ['a', 'b']; a/mod.rs -> ['a']; lib.rs -> []."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return []
    return parts


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # Inline test modules are not part of the structure.
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    return text


def expand(tree):
    """Expands a use tree `a::{b, c::{d, e}}` into paths."""
    tree = tree.replace(" ", "").replace("\n", "")
    depth, start, items = 0, 0, []
    brace = tree.find("{")
    if brace < 0:
        return [tree.split(" as ")[0]]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    out = []
    for item in items:
        if item:
            out.extend(prefix + p for p in expand(item))
    return out


def inline_modules(text):
    """(start, end, name) of every inline `mod name { ... }` block."""
    out = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append((m.end(), i, m.group(1)))
    return out


def paths_in(text):
    """(path, inline modules around it) of every crate/super/self path."""
    blocks = inline_modules(text)

    def around(pos):
        return [name for start, end, name in blocks if start <= pos < end]

    for m in re.finditer(r"\buse\s+((?:crate|super|self)::[^;]*);", text):
        for p in expand(m.group(1)):
            yield p, around(m.start())
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text):
        if not re.match(r"use\s", text[max(0, text.rfind("\n", 0, m.start()) + 1) : m.start()].lstrip()):
            yield m.group(1), around(m.start())


def resolve(path, here, files):
    parts = path.split("::")
    base = list(here)
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    else:
        while parts and parts[0] in ("super", "self"):
            if parts.pop(0) == "super":
                base = base[:-1]
    full = base + [p for p in parts if p != "self"]
    for n in range(len(full), 0, -1):
        if tuple(full[:n]) in files:
            return tuple(full[:n])
    return None


def main():
    files = {}
    for rel in rust_files():
        files[tuple(module_of(rel))] = rel
    graph = {}
    for mod, rel in files.items():
        # A file's `self::`/`super::` are relative to its module; for a
        # non-mod.rs file `super` is the parent folder's module.
        with open(os.path.join(ROOT, rel)) as fh:
            text = strip(fh.read())
        here = list(mod)
        targets = set()
        for p, inner in paths_in(text):
            t = resolve(p, here + inner, files)
            if t is not None and t != mod and t != tuple(mod[:0]):
                # Importing a parent module's item is an import of that file;
                # a child importing its own folder's mod.rs is allowed only
                # downward like everything else.
                targets.add(t)
        graph[mod] = targets

    errors = []
    for mod, targets in sorted(graph.items()):
        top = mod[0] if mod else files[mod][:-3]
        for t in sorted(targets):
            if not t:
                continue
            lt, lm = layer_of(t[0]), layer_of(top)
            if lm is None:
                errors.append(f"{files[mod]}: module `{top}` is not in LAYERS")
                break
            if lt is None:
                errors.append(f"{files[t]}: module `{t[0]}` is not in LAYERS")
            elif lt < lm:
                errors.append(f"upward import: {files[mod]} ({top}) -> {files[t]} ({t[0]})")

    # Cycles between files (Tarjan's strongly connected components).
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    for comp in sccs:
        names = sorted(files[c] for c in comp)
        errors.append(f"import circle of {len(comp)} files: " + ", ".join(names))

    if "--graph" in sys.argv:
        for mod, targets in sorted(graph.items()):
            print(files[mod], "->", ", ".join(sorted(files[t] for t in targets if t)))
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} layering problem(s); see docs/ARCHITECTURE.md")
        return 1
    print(f"layers: {len(graph)} files, no upward import, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
