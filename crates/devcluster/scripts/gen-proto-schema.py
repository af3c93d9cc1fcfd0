#!/usr/bin/env python3
"""Writes crates/devcluster/src/proto_schema.txt: the Kubernetes protobuf messages the local API
server encodes and decodes, as data (message name; per field its number, JSON name, label, type).

The definitions come from the upstream generated.proto files as compiled by the `k8s-pb` crate
(its prost bindings keep every field's number, wire type, label and message type); the JSON
names, which prost lowers to snake_case, are recovered from the `k8s-openapi` crate's serde
field names. Both crates come from crates.io (`cargo fetch` in this workspace, or `cargo info
k8s-pb` to download it into the Cargo registry).

Usage: python3 crates/devcluster/scripts/gen-proto-schema.py [K8S_PB_SRC K8S_OPENAPI_SRC] > crates/devcluster/src/proto_schema.txt
"""
import glob
import os
import re
import sys

REG = os.path.expanduser("~/.cargo/registry/src")


def newest(pattern):
    found = sorted(glob.glob(os.path.join(REG, "*", pattern)))
    if not found:
        sys.exit(f"{pattern} is not in the Cargo registry: fetch it first")
    return found[-1]


pb = sys.argv[1] if len(sys.argv) > 2 else os.path.join(newest("k8s-pb-0.*"), "src")
oa = sys.argv[2] if len(sys.argv) > 2 else os.path.join(newest("k8s-openapi-0.*"), "src")

# JSON names by their normalised form (lower case, no underscores).
json_names = {}
for path in glob.glob(os.path.join(oa, "**", "*.rs"), recursive=True):
    with open(path, encoding="utf-8") as f:
        for name in re.findall(r'"([A-Za-z0-9$]+)" => Field::Key_', f.read()):
            json_names.setdefault(name.lower().replace("_", ""), set()).add(name)


def json_name(rust):
    rust = rust.removeprefix("r#")
    cands = json_names.get(rust.replace("_", "").lower())
    if cands and len(cands) == 1:
        return next(iter(cands))
    parts = rust.split("_")
    camel = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    if cands and camel in cands:
        return camel
    if cands:
        return sorted(cands)[0]
    return camel


FIELD = re.compile(
    r"#\[prost\((?P<attr>[^\]]*?)tag = \"(?P<tag>\d+)\"\)\]\s*pub (?P<name>[\w#]+):\s*(?P<ty>.*?),\n(?=\s*(?:#\[|///|\}|\Z))",
    re.S,
)
STRUCT = re.compile(r"pub struct (\w+) \{(\}|.*?\n\})", re.S)

# Go structs embedded with `json:",inline"`: a field in protobuf, their fields in JSON.
INLINE = {
    "ingress_rule_value", "local_object_reference", "ephemeral_container_common",
    "persistent_volume_source", "volume_source", "rule_with_operations",
}
# The same, named by message and field where the field name alone would match others.
INLINE_IN = {("Probe", "handler"), ("RuleWithOperations", "rule")}
# JSON names the heuristic can't guess (upstream's Go tag is not camelCase).
RENAMED = {("DaemonEndpoint", "port"): "Port"}

messages = {}
for path in glob.glob(os.path.join(pb, "**", "mod.rs"), recursive=True):
    module = os.path.relpath(os.path.dirname(path), pb).replace(os.sep, ".")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for sname, body in STRUCT.findall(text):
        fields = []
        for m in FIELD.finditer(body + "\n"):
            attr, ty = m["attr"], " ".join(m["ty"].split())
            scalar = attr.split(",")[0].strip()
            if attr.startswith("btree_map"):
                label = "map"
                value = re.search(r'"string, (\w+)"', attr)[1]
                scalar = value
            elif "repeated" in attr:
                label = "rep"
            else:
                label = "opt"
            if scalar == "message":
                refs = re.findall(r"((?:super::)*(?:[a-z_]\w*::)*[A-Z]\w*)", ty)
                refs = [r for r in refs if r.split("::")[-1] not in ("Option", "Vec", "String", "BTreeMap", "Box")]
                if not refs:
                    sys.exit(f"no type in {module}.{sname}.{m['name']}: {ty!r}")
                ref = refs[-1]
                segs = ref.split("::")
                base = module.split(".")
                while segs[0] == "super":
                    base = base[:-1]
                    segs = segs[1:]
                target = ".".join(base + segs)
            elif scalar.startswith("bytes"):
                target = "bytes"
            else:
                target = scalar
            jn = json_name(m["name"])
            if m["name"] in INLINE or (sname, m["name"]) in INLINE_IN:
                jn = "-"
            jn = RENAMED.get((sname, jn), jn)
            fields.append((int(m["tag"]), jn, label, target))
        messages[f"{module}.{sname}"] = fields

ROOTS = [
    "apimachinery.pkg.apis.meta.v1.Status",
    "apimachinery.pkg.apis.meta.v1.WatchEvent",
    "apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "apimachinery.pkg.apis.meta.v1.List",
    "apimachinery.pkg.runtime.Unknown",
]
# Every kind (and its list) of the groups the server serves.
SERVED = [
    "api.core.v1", "api.apps.v1", "api.batch.v1", "api.networking.v1", "api.rbac.v1",
    "api.policy.v1", "api.autoscaling.v1", "api.autoscaling.v2", "api.coordination.v1",
    "api.admissionregistration.v1", "api.scheduling.v1", "api.storage.v1", "api.events.v1",
    "api.authorization.v1", "api.authentication.v1", "api.discovery.v1",
]  # not apiextensions: CustomResourceDefinitions and custom resources stay JSON-only
for name in messages:
    if name.rsplit(".", 1)[0] in SERVED:
        ROOTS.append(name)

keep, todo = set(), list(ROOTS)
while todo:
    n = todo.pop()
    if n in keep:
        continue
    if n not in messages:
        sys.exit(f"unresolved message {n}")
    keep.add(n)
    for _, _, _, t in messages[n]:
        if "." in t:
            todo.append(t)

print("# Generated by crates/devcluster/scripts/gen-proto-schema.py from the k8s-pb and k8s-openapi")
print("# crates (upstream generated.proto definitions); do not edit by hand.")
print("# message NAME, then one line per field: NUMBER JSON-NAME opt|rep|map TYPE (JSON-NAME - : inlined)")
for n in sorted(keep):
    print(f"message {n}")
    for tag, jn, label, t in sorted(messages[n]):
        print(f" {tag} {jn} {label} {t}")
