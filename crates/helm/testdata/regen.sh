#!/usr/bin/env bash
# Regenerates expected/*.out|*.err from REAL Helm (v3.17.2 via /work/shared/tools/helm-template's binary).
# Run from crates/helm: bash testdata/regen.sh
set -u
cd "$(dirname "$0")/.."
H="${HELM_BIN:-$HOME/.cache/helm-oracle/bin/helm3}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export HELM_CACHE_HOME="$tmp/c" HELM_CONFIG_HOME="$tmp/cf" HELM_DATA_HOME="$tmp/d" KUBECONFIG=/dev/null
unset HELM_KUBECONTEXT HELM_NAMESPACE
grep -v '^#' testdata/cases.txt | while IFS='|' read -r name chart rel ns flags; do
  [ -n "$name" ] || continue
  # shellcheck disable=SC2086
  "$H" template "$rel" "testdata/charts/$chart" -n "$ns" $flags > "testdata/expected/$name.out" 2> "testdata/expected/$name.err"
  echo "$?" > "testdata/expected/$name.rc"
done
