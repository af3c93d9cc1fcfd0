#!/usr/bin/env python3
"""helm_oracle.py CASES.json [values.yaml] -> one line per case: JSON_TEMPLATE => {"ok": text} | {"err": msg}.
Renders every case through REAL Helm (/work/shared/tools/helm-template) in a throwaway chart: each case is
wrapped in define "cN" in templates/_x.tpl and rendered by templates/t.yaml as `cN: {{ include "cN" . | b64enc }}`;
on a failure each case is rerun alone (as c0) to get its own error. This produced tests/data/oracle_cases.json."""
import json, sys, os, subprocess, tempfile, base64, shutil
def render(cases, values=None):
    d = tempfile.mkdtemp()
    os.makedirs(d + "/templates")
    open(d + "/Chart.yaml", "w").write("apiVersion: v2\nname: t\nversion: 0.1.0\n")
    tpl = "".join('{{- define "c%d" }}%s{{ end }}\n' % (i, c) for i, c in enumerate(cases))
    open(d + "/templates/_x.tpl", "w").write(tpl)
    open(d + "/templates/t.yaml", "w").write("".join('c%d: {{ include "c%d" . | b64enc }}\n' % (i, i) for i in range(len(cases))))
    args = ["/work/shared/tools/helm-template", d, "r", "n"] + ([values] if values else [])
    p = subprocess.run(args, capture_output=True, text=True)
    shutil.rmtree(d)
    if p.returncode != 0:
        return None, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("c") and ": " in line:
            k, v = line.split(": ", 1)
            out[int(k[1:])] = base64.b64decode(v).decode("utf-8", "replace")
        elif line.startswith("c") and line.endswith(":"):
            out[int(line[1:-1])] = ""
    return out, None
def main():
    cases = json.load(open(sys.argv[1]))
    values = sys.argv[2] if len(sys.argv) > 2 else None
    out, err = render(cases, values)
    res = []
    if out is not None:
        res = [{"ok": out.get(i)} for i in range(len(cases))]
    else:
        for c in cases:
            o, e = render([c], values)
            if o is not None:
                res.append({"ok": o.get(0)})
            else:
                msg = "\n".join(l.replace("helm-template:   ", "") for l in e.splitlines() if not l.startswith("helm-template: error:"))
                res.append({"err": msg})
    for c, r in zip(cases, res):
        print(json.dumps(c), "=>", json.dumps(r))
main()
