#!/usr/bin/env python3
"""Writes crates/devcluster/src/openapi_docs.txt: the upstream OpenAPI descriptions and required
fields of the definitions behind the messages of src/proto_schema.txt (every built-in kind and
everything it nests), plus the apiextensions definitions (CustomResourceDefinition), which have
no protobuf messages.

The server builds its OpenAPI schemas from proto_schema.txt (the structure: every field, its
type, nesting and inlined structs) and takes the texts `kubectl explain` prints from this file.
The texts come from the `k8s-openapi` crate (its schemars implementations carry upstream's
descriptions verbatim), fetched into the Cargo registry by `cargo fetch` in this workspace.

It also cross-checks the two sources: a property upstream has that the proto descriptor lacks
(or the reverse) is reported on stderr, so a JSON name the proto generator got wrong is seen.

Format: `D NAME<TAB>DESCRIPTION` starts a definition, then `F JSON-NAME<TAB>r|o<TAB>DESCRIPTION`
per property (r: required), `T NAME<TAB>TYPE` for a property whose type only upstream knows
(apiVersion/kind, or all of an apiextensions definition: `string`, a definition, `[` list of, `{`
map of); descriptions escape `\\`, newline, tab.

Usage: python3 crates/devcluster/scripts/gen-openapi-docs.py [K8S_OPENAPI_VERSION_DIR] > crates/devcluster/src/openapi_docs.txt
"""
import glob
import os
import re
import sys

REG = os.path.expanduser("~/.cargo/registry/src")
HERE = os.path.dirname(os.path.abspath(__file__))


def newest(pattern):
    found = sorted(glob.glob(os.path.join(REG, "*", pattern)))
    if not found:
        sys.exit(f"{pattern} is not in the Cargo registry: fetch it first")
    return found[-1]


root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(newest("k8s-openapi-0.*"), "src", "v1_35")

STR = r'"(?:[^"\\]|\\.)*"'


def unrust(lit):
    """A Rust string literal's text."""
    body = lit[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            n = body[i + 1]
            if n == "n":
                out.append("\n")
            elif n == "t":
                out.append("\t")
            elif n == "r":
                out.append("\r")
            elif n == "u":
                end = body.index("}", i)
                out.append(chr(int(body[i + 3:end], 16)))
                i = end + 1
                continue
            else:
                out.append(n)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def esc(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def top_level_props(block):
    """(name, text) per property of the json_schema! block's `properties` object."""
    start = block.find('"properties": {')
    if start < 0:
        return []
    i = start + len('"properties": {')
    depth, props, cur = 1, [], i
    # Walk braces/parens, skipping string literals, to cut the properties at depth 1.
    while i < len(block) and depth > 0:
        c = block[i]
        if c == '"':
            m = re.compile(STR).match(block, i)
            if depth == 1:
                after = block[m.end():m.end() + 2]
                if after.startswith(":"):
                    props.append([unrust(m.group(0)), m.end()])
            i = m.end()
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        i += 1
    end = i
    out = []
    for k, (name, pos) in enumerate(props):
        stop = props[k + 1][1] if k + 1 < len(props) else end
        out.append((name, block[pos:stop]))
    return out


defs = {}
for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.match(r"// Generated from definition (\S+)", text)
    if not m:
        continue
    name = m[1]
    js = text.find("json_schema!({")
    if js < 0:
        continue
    block = text[js:]
    dm = re.search(r'^\s*"description": (' + STR + ")", block[: block.find('"properties"') if '"properties"' in block else len(block)], re.M)
    desc = unrust(dm[1]) if dm else ""
    req = re.search(r'"required": \[(.*?)\]', block, re.S)
    required = set(unrust(s) for s in re.findall(STR, req[1])) if req else set()
    props = []
    for pname, ptext in top_level_props(block):
        pm = re.search(r'"description"(?:\.into\(\), |: )(' + STR + ")", ptext)
        pdesc = unrust(pm[1]) if pm else ""
        types = re.findall(r'"type": "(\w+)"', ptext)
        sub = re.search(r"subschema_for::<crate::([\w:]+)>", ptext)
        item = "#" + sub[1] if sub else (types[1] if len(types) > 1 else "")
        if types and types[0] == "array":
            ty = "[" + item
        elif types and types[0] == "object" and "additionalProperties" in ptext:
            ty = "{" + item
        else:
            ty = "#" + sub[1] if sub else (types[0] if types else "")
        props.append((pname, pname in required, pdesc, ty))
    defs[name] = (desc, props)

# The proto descriptor's messages, fields flattened through inlined ones.
proto = {}
cur = None
with open(os.path.join(HERE, "..", "src", "proto_schema.txt"), encoding="utf-8") as f:
    for line in f:
        if line.startswith("#"):
            continue
        if line.startswith("message "):
            cur = line.split()[1]
            proto[cur] = []
        else:
            _, jn, _, ty = line.split()
            proto[cur].append((jn, ty))


def flat(msg):
    out = set()
    for jn, ty in proto.get(msg, []):
        if jn == "-":
            out |= flat(ty)
        else:
            out.add(jn)
    return out


# The proto descriptor names messages as the Rust bindings do (`HttpGetAction`), so
# definitions are matched case-insensitively.
by_lower = {d.lower(): d for d in defs}
wanted = []
for msg in sorted(proto):
    d = by_lower.get(("io.k8s." + msg).lower())
    if d:
        wanted.append(d)
        up = {p[0] for p in defs[d][1]}
        mine = flat(msg)
        extra_up = up - mine - {"apiVersion", "kind"}
        extra_mine = mine - up
        if extra_up or extra_mine:
            print(f"{d}: upstream only {sorted(extra_up)}, proto only {sorted(extra_mine)}", file=sys.stderr)
api_ext = sorted(d for d in defs if d.startswith("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."))

print("# Generated by crates/devcluster/scripts/gen-openapi-docs.py from the k8s-openapi crate")
print("# (upstream OpenAPI descriptions); do not edit by hand.")
print("# D NAME\\tDESCRIPTION; F FIELD\\tr|o\\tDESCRIPTION; T FIELD\\tTYPE (types only upstream knows)")
for d in wanted + api_ext:
    desc, props = defs[d]
    print(f"D {d}\t{esc(desc)}")
    for pname, required, pdesc, ty in sorted(props):
        print(f"F {pname}\t{'r' if required else 'o'}\t{esc(pdesc)}")
        if d in api_ext or pname in ("apiVersion", "kind"):
            ty = re.sub(r"#([\w:]+)", lambda m: "io.k8s." + m[1].replace("::", ".").replace("apiextensions_apiserver", "apiextensions-apiserver"), ty)
            print(f"T {pname}\t{ty}")
