#!/usr/bin/env bash
# Regenerates expected.txt from REAL Helm v3.17.2 (the oracle), one render per case:
#   bash crates/sprig/tests/golden/regen.sh
# Each line of cases.txt is a template body. expected.txt gets one line per case:
# "OK <base64 of the output>" or "ERR <text after Go's last 'error calling NAME: '>".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
oracle="${HELM_TEMPLATE:-/work/shared/tools/helm-template}"
out="$here/expected.txt"; : > "$out"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/c/templates"; printf 'apiVersion: v2\nname: t\nversion: 0.1.0\n' > "$work/c/Chart.yaml"
while IFS= read -r line || [ -n "$line" ]; do
  printf '{{ define "x" }}%s{{ end }}v: {{ include "x" . | b64enc }}\n' "$line" > "$work/c/templates/t.yaml"
  if res="$("$oracle" "$work/c" rel ns 2>"$work/err")"; then
    printf 'OK %s\n' "$(printf '%s\n' "$res" | sed -n 's/^v: //p')" >> "$out"
  else
    # `fail` is reported by Helm as "execution error at (POS): MSG"; others as "error calling NAME: MSG".
    msg="$(grep -o 'error calling [A-Za-z0-9_]*: .*' "$work/err" | sed 's/.*error calling [A-Za-z0-9_]*: //' | head -1 || true)"
    [ -n "$msg" ] || msg="$(grep -o 'execution error at ([^)]*): .*' "$work/err" | sed 's/^execution error at ([^)]*): //' | head -1 || true)"
    printf 'ERR %s\n' "$msg" >> "$out"
  fi
done < "$here/cases.txt"
