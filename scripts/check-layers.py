#!/usr/bin/env python3
"""Checks that every service keeps the layers of docs/development/architecture.md:

- every service crate has src/api/, src/service/, src/store/, and src/consumer.rs if it consumes
  events;
- nothing under api/ mentions diesel or reaches into store/ (a handler calls a service function,
  which calls the store); nothing under service/ or store/ mentions actix_web;
- nothing under store/ imports service/ or api/, nothing under service/ imports api/;
- consumer.rs runs no SQL (no diesel);
- no `unwrap_or` (any flavour) under store/ or service/: a stored value that cannot be read is
  an error with its context, never a default (a line may say why it is not a stored value with
  a trailing `// not stored: <why>`);
- no import cycle between the modules of a service (lib.rs, the crate root, aside).

Prints each breach with its file and line; exits 1 if there is any.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SERVICES = ["accounts", "settlement", "invoicing", "collections"]
breaches = []


def rust_files(base):
    for dirpath, _, files in os.walk(base):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def code_lines(path):
    """Lines outside comments (a line's trailing // comment is kept apart)."""
    in_block = False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        stripped = line.strip()
        if in_block:
            if "*/" in stripped:
                in_block = False
            continue
        if stripped.startswith("/*"):
            in_block = "*/" not in stripped
            continue
        if stripped.startswith("//"):
            continue
        yield n, line.rstrip("\n")


def module_of(src, path):
    """`service/settlements` for src/service/settlements.rs or src/service/settlements/mod.rs."""
    rel = os.path.relpath(path, src)[:-3]
    if rel.endswith("/mod"):
        rel = rel[: -len("/mod")]
    return rel


def check(service):
    src = os.path.join(ROOT, "services", service, "src")
    for need in ["api", "service", "store"]:
        if not os.path.isdir(os.path.join(src, need)):
            breaches.append(f"services/{service}/src/{need}/: missing (the service is not layered)")
    consumes = any("subscription(" in open(p, encoding="utf-8").read() for p in rust_files(src))
    if consumes and not os.path.isfile(os.path.join(src, "consumer.rs")):
        breaches.append(f"services/{service}/src/consumer.rs: missing (the service consumes events)")
    modules = {module_of(src, p) for p in rust_files(src)}
    edges = {}
    for path in rust_files(src):
        rel = os.path.relpath(path, ROOT)
        module = module_of(src, path)
        layer = module.split("/")[0]
        edges.setdefault(module, set())
        if layer == "store":
            # Comments and doc links count too: a store that names a layer above points the
            # arrow up.
            for n, line in enumerate(open(path, encoding="utf-8"), 1):
                if re.search(r"\bcrate::(service|api)\b|\bcrate::\{[^}]*\b(service|api)\b", line):
                    breaches.append(f"{rel}:{n}: store/ imports an upper layer: {line.strip()}")
        for n, line in code_lines(path):
            where = f"{rel}:{n}"
            code = line.split("//", 1)[0]
            if layer == "api" and re.search(r"\bdiesel\b", code):
                breaches.append(f"{where}: diesel under api/: {line.strip()}")
            if layer in ("service", "store") and re.search(r"\bactix_web\b", code):
                breaches.append(f"{where}: actix_web under {layer}/: {line.strip()}")
            if layer == "api" and re.search(r"\bcrate::store\b|\bcrate::\{[^}]*\bstore\b", code):
                breaches.append(f"{where}: api/ skips service/ (handler -> service -> store): {line.strip()}")
            if layer == "service" and re.search(r"\bcrate::api\b|\bcrate::\{[^}]*\bapi\b", code):
                breaches.append(f"{where}: service/ imports api/: {line.strip()}")
            if module == "consumer" and re.search(r"\bdiesel\b", code):
                breaches.append(f"{where}: SQL in consumer.rs: {line.strip()}")
            if layer in ("service", "store") and re.search(r"\.unwrap_or(_default|_else)?\(", code) \
                    and "// not stored:" not in line:
                breaches.append(f"{where}: unwrap_or under {layer}/ (a stored value must not default): {line.strip()}")
            # Module references: crate::a::b::Item, crate::a::{b, c}, super::b.
            for m in re.finditer(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
                parts = m.group(1).split("::")
                for i in range(len(parts), 0, -1):
                    target = "/".join(parts[:i])
                    if target in modules:
                        if target != module:
                            edges[module].add(target)
                        break
            for m in re.finditer(r"\bcrate::([a-z_]+)::\{([^}]*)\}", code):
                for item in m.group(2).split(","):
                    target = m.group(1) + "/" + item.strip().split("::")[0]
                    if target in modules and target != module:
                        edges[module].add(target)
            parent = module.rsplit("/", 1)[0] if "/" in module else ""
            for m in re.finditer(r"\bsuper::([a-z_][a-z0-9_]*)", code):
                target = f"{parent}/{m.group(1)}" if parent else m.group(1)
                if target in modules and target != module:
                    edges[module].add(target)
    # Cycles (lib.rs, the crate root with State and routes, aside).
    graph = {m: {t for t in ts if t != "lib"} for m, ts in edges.items() if m != "lib"}
    seen, stack, on_stack = set(), [], set()

    def visit(m):
        seen.add(m)
        stack.append(m)
        on_stack.add(m)
        for t in sorted(graph.get(m, ())):
            if t in on_stack:
                cycle = stack[stack.index(t):] + [t]
                breaches.append(f"services/{service}/src: import cycle: {' -> '.join(cycle)}")
            elif t not in seen:
                visit(t)
        stack.pop()
        on_stack.discard(m)

    for m in sorted(graph):
        if m not in seen:
            visit(m)


for s in sys.argv[1:] or SERVICES:
    check(s)
for b in breaches:
    print(b)
if breaches:
    print(f"{len(breaches)} layering breach(es)", file=sys.stderr)
    sys.exit(1)
print(f"layers hold in {', '.join(sys.argv[1:] or SERVICES)}")
