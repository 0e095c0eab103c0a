#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite (v1.1.1) against three setups, each started on
# 127.0.0.1 in a fresh temp dir and stopped afterwards:
#
#   builtin-basic    registry-gate with its built-in registry, Basic auth
#   builtin-bearer   registry-gate with its built-in registry, bearer tokens (Docker token flow)
#   upstream-basic   registry-gate, Basic auth, in front of Debian's Distribution (docker-registry)
#   upstream-cached  the same with the content cache on (`upstream.cache: true`)
#
# A development check, not part of scripts/test.sh: the suite is a binary provided outside the repo.
#
# usage: scripts/conformance.sh [SUITE_DIR] [SETUP ...]
#   SUITE_DIR  the folder holding run.sh and conformance.test
#              (default: $OCI_CONFORMANCE_DIR, else ../shared/tools/oci-conformance from the repo root,
#              or from the main checkout when this is a linked git worktree)
#   SETUP      any of the names above (default: the first three)
# env: CONFORMANCE_OUT=DIR keeps each setup's report (report.html, junit.xml, output.txt) in DIR/SETUP;
#      without it the reports go with the temp dir. DISTRIBUTION_BIN (default /usr/bin/docker-registry).
# Prints, per setup, the counts and every failing spec with its reason. Exit 0 when every setup ran.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SUITE=${OCI_CONFORMANCE_DIR:-../shared/tools/oci-conformance}
# In a linked git worktree, ../shared is looked for beside the main checkout too.
if [ -z "${OCI_CONFORMANCE_DIR:-}" ] && [ ! -d "$SUITE" ]; then
  MAIN_CHECKOUT=$(dirname "$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || echo .)")
  [ -d "$MAIN_CHECKOUT/../shared/tools/oci-conformance" ] && SUITE=$MAIN_CHECKOUT/../shared/tools/oci-conformance
fi
if [ $# -gt 0 ] && [ -d "$1" ]; then SUITE=$1; shift; fi
if [ ! -x "$SUITE/run.sh" ]; then
  echo "conformance.sh: no conformance suite at $SUITE (give its folder as the first argument or in OCI_CONFORMANCE_DIR)" >&2
  exit 2
fi
SUITE=$(cd "$SUITE" && pwd)
SETUPS=("$@")
[ ${#SETUPS[@]} -gt 0 ] || SETUPS=(builtin-basic builtin-bearer upstream-basic)
DISTRIBUTION_BIN=${DISTRIBUTION_BIN:-/usr/bin/docker-registry}
GATE=(node "$ROOT/dist/src/cli/main.js")
USER_NAME=conformance

npm run --silent build

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rg-conformance.XXXXXX")
PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT

# A free TCP port on 127.0.0.1 (for Distribution, which cannot listen on port 0 and report it).
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# Waits (at most 30 s) for PATTERN in FILE and prints the first match.
wait_for_line() {
  local file=$1 pattern=$2
  for _ in $(seq 1 300); do
    if grep -Eo "$pattern" "$file" 2>/dev/null | head -n 1 | grep .; then return 0; fi
    sleep 0.1
  done
  echo "conformance.sh: timed out waiting for '$pattern' in $file:" >&2
  tail -n 20 "$file" >&2
  return 1
}

# Starts Distribution in DIR (plain HTTP, no auth, deletes on); sets UPSTREAM_URL.
start_distribution() {
  local dir=$1 port
  port=$(free_port)
  mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<EOF
version: 0.1
log: { level: warn, formatter: text, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: $dir/data }
  delete: { enabled: true }
  maintenance: { uploadpurging: { enabled: false } }
http:
  addr: 127.0.0.1:$port
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
health: { storagedriver: { enabled: false } }
EOF
  # Distribution reads REGISTRY_* variables as overrides; start it without any.
  env $(env | grep -o '^REGISTRY_[A-Za-z0-9_]*' | sed 's/^/-u /') "$DISTRIBUTION_BIN" serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then UPSTREAM_URL="http://127.0.0.1:$port"; return 0; fi
    sleep 0.1
  done
  echo "conformance.sh: Distribution did not start:" >&2
  cat "$dir/registry.log" >&2
  return 1
}

# Starts registry-gate from a config file in DIR; sets GATE_URL.
start_gate() {
  local dir=$1 mode=$2 upstream=${3:-} cached=${4:-}
  mkdir -p "$dir"
  {
    echo 'listen: "127.0.0.1:0"'
    echo "dataDir: $dir/data"
    echo 'tls: auto'
    [ -n "$upstream" ] && echo "upstream: { url: \"$upstream\"${cached:+, cache: true} }"
    echo 'auth:'
    echo "  htpasswd: $dir/htpasswd"
    if [ "$mode" = bearer ]; then
      echo '  scheme: bearer'
      echo '  token: { service: registry-gate-conformance, issuer: registry-gate }'
    fi
    echo 'access:'
    echo "  - { repository: \"myorg/**\", actions: [pull, push, delete], subjects: [\"user:$USER_NAME\"] }"
    echo 'log: { level: warn, access: false }'
    echo 'audit: { enabled: false }'
  } > "$dir/registry-gate.yaml"
  printf '%s\n' "$PASSWORD" | "${GATE[@]}" htpasswd add "$dir/htpasswd" "$USER_NAME" --password-stdin > /dev/null
  (cd "$dir" && exec "${GATE[@]}" serve --config "$dir/registry-gate.yaml") > "$dir/gate.log" 2>&1 &
  PIDS+=($!)
  GATE_URL=$(wait_for_line "$dir/gate.log" 'https://127\.0\.0\.1:[0-9]+')
}

run_setup() {
  local setup=$1 dir="$WORK/$1" upstream=''
  # Not in $(…): the servers must be children of this shell, so that stop_all can end them.
  case "$setup" in
    builtin-basic) start_gate "$dir/gate" basic ;;
    builtin-bearer) start_gate "$dir/gate" bearer ;;
    upstream-basic)
      start_distribution "$dir/distribution"
      upstream=$UPSTREAM_URL
      start_gate "$dir/gate" basic "$upstream"
      ;;
    upstream-cached)
      start_distribution "$dir/distribution"
      upstream=$UPSTREAM_URL
      start_gate "$dir/gate" basic "$upstream" cached
      ;;
    *) echo "conformance.sh: unknown setup $setup" >&2; return 2 ;;
  esac
  local out=${CONFORMANCE_OUT:+$CONFORMANCE_OUT/$setup}
  out=${out:-$dir/report}
  echo "== $setup: $GATE_URL${upstream:+ in front of Distribution at $upstream}"
  OCI_ROOT_URL=$GATE_URL OCI_USERNAME=$USER_NAME OCI_PASSWORD=$PASSWORD CERT="$dir/gate/data/tls/cert.pem" \
    "$SUITE/run.sh" "$out" || true
  stop_all
}

[ -z "${CONFORMANCE_OUT:-}" ] || { mkdir -p "$CONFORMANCE_OUT"; CONFORMANCE_OUT=$(cd "$CONFORMANCE_OUT" && pwd); }
for setup in "${SETUPS[@]}"; do
  PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  run_setup "$setup"
done
