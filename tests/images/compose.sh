#!/usr/bin/env bash
# docker-compose.yml on a Docker engine (called by tests/images/run.sh, DOCKER_HOST set):
#   1. docker-compose (1.29 from apt) validates the file as it is;
#   2. the stack comes up: the five service images just built, and MySQL, Redis and NATS from an
#      image made of Debian's packages (their official images need a registry), each with its
#      own command and health check; every published port is moved to a free one. Prometheus
#      needs a registry image and is left out. Every service must turn healthy through
#      compose's depends_on chain, and one flow crosses the compose network: register, create a
#      group (group -> user, conversation), send to it (message -> group, conversation), pull.
#   tests/images/compose.sh <docker client> <base image> <service image tag> <work dir>
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=$1
BASE=$2
TAG=$3
WORK=$4
STARTED=$(date +%s)
log() { printf '[compose %3ss] %s\n' "$(($(date +%s) - STARTED))" "$*"; }

if ! command -v docker-compose >/dev/null 2>&1; then
  log "docker-compose is not installed (apt-get install docker-compose): compose not checked"
  exit 0
fi
docker-compose -f docker-compose.yml config -q
log "docker-compose $(docker-compose version --short): docker-compose.yml is valid"

DEPS="im-repo-test/compose-deps:${BASE##*:}"
if ! "$DOCKER" image inspect "$DEPS" >/dev/null 2>&1; then
  log "building $DEPS (mariadb-server, redis-server, nats-server from Debian)"
  mkdir -p "$WORK/deps"
  cat >"$WORK/deps/Dockerfile" <<EOF
FROM $BASE
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      mariadb-server mariadb-client redis-server redis-tools nats-server \
    && rm -rf /var/lib/apt/lists/*
EOF
  "$DOCKER" build --network host -t "$DEPS" "$WORK/deps" >"$WORK/deps/build.log" 2>&1 || {
    tail -n 30 "$WORK/deps/build.log"
    exit 1
  }
fi

PROJECT="imimg$$"
GENERATED="$WORK/compose.yml"
PORTS="$WORK/compose-ports.json"
node tests/images/compose-variant.mjs docker-compose.yml "$DEPS" "$TAG" "$GENERATED" "$PORTS"
COMPOSE=(docker-compose -p "$PROJECT" -f "$GENERATED" --project-directory .)
down() { "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; }
trap down EXIT

log "docker-compose up -d (project $PROJECT)"
"${COMPOSE[@]}" up -d --no-build >"$WORK/compose-up.log" 2>&1 || {
  cat "$WORK/compose-up.log"
  exit 1
}

# Every container with a health check must report healthy (compose itself already waited on
# depends_on conditions; this also covers the last services in the chain).
deadline=$(($(date +%s) + 300))
while :; do
  pending=""
  for id in $("${COMPOSE[@]}" ps -q); do
    status=$("$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
    [ "$status" = healthy ] || [ "$status" = none ] || pending+=" $("$DOCKER" inspect -f '{{.Name}}' "$id")=$status"
  done
  [ -z "$pending" ] && break
  if [ "$(date +%s)" -gt "$deadline" ]; then
    "${COMPOSE[@]}" ps
    "${COMPOSE[@]}" logs --tail 20
    log "not healthy:$pending"
    exit 1
  fi
  sleep 2
done
log "all healthy: $("${COMPOSE[@]}" ps --services | tr '\n' ' ')"

port() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[process.argv[2]])' "$PORTS" "$1"; }
out=$(node tests/images/call.mjs stack "127.0.0.1:$(port user)" "127.0.0.1:$(port group)" "127.0.0.1:$(port message)") || {
  "${COMPOSE[@]}" logs --tail 30
  log "the flow through the stack failed: $out"
  exit 1
}
log "$out"
