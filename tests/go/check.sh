#!/usr/bin/env bash
# Go stubs check: generates the Go code with buf.gen.go.yaml and compiles examples/go-client
# against it with Debian's Go packages in GOPATH mode (GO111MODULE=off, no module download).
# Installs the packages with apt when they are missing; when that is impossible it says so in one
# line and skips (exit 0). Run by .ci/run as its own step, after the package tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
log() { printf '[go] %s\n' "$*"; }

# protoc-gen-go 1.28 (Debian's protoc-gen-go, google.golang.org/protobuf), not the 1.3 generator
# of golang-goprotobuf-dev: that one cannot compile proto3 `optional` fields nor take `module=`.
packages=(golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-protobuf-dev
  golang-github-golang-protobuf-1-5-dev golang-google-grpc-dev golang-google-genproto-dev)
have() {
  command -v go >/dev/null && command -v protoc-gen-go >/dev/null &&
    command -v protoc-gen-go-grpc >/dev/null &&
    [ -d /usr/share/gocode/src/google.golang.org/grpc ] &&
    [ -d /usr/share/gocode/src/google.golang.org/genproto/googleapis/rpc/errdetails ] &&
    [ -d /usr/share/gocode/src/google.golang.org/protobuf ] &&
    protoc-gen-go --version 2>/dev/null | grep -q 'v1\.\(2[0-9]\|[3-9][0-9]\)'
}
if ! have; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "installing ${packages[*]}"
    timeout 600 bash -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${packages[*]} >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${packages[*]} >/dev/null 2>&1; }" || true
  fi
  if ! have; then
    log "skipped: Debian's Go, protoc-gen-go >= 1.20, protoc-gen-go-grpc and Go gRPC packages are not installed and apt could not install them"
    exit 0
  fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
src="$tmp/src/github.com/im-repo/im-repo"
mkdir -p "$src"
# The template's own input (proto/ without google/rpc), as `buf generate --template
# buf.gen.go.yaml` runs it from the repository root; the stubs land under gen/go of the output.
(cd "$root" && node_modules/.bin/buf generate --template buf.gen.go.yaml -o "$src")
count=$(find "$src/gen/go/im" -name '*.pb.go' | wc -l)
log "generated $count Go files"
if [ -e "$src/gen/go/google" ] || find "$src" -path '*google/rpc*' | grep -q .; then
  log "FAIL: Go code was generated for the vendored google/rpc protos (they come from genproto)"
  exit 1
fi
for d in "$root"/proto/im/*/v1; do
  domain=$(basename "$(dirname "$d")")
  if ! ls "$src/gen/go/im/$domain/v1/"*_grpc.pb.go >/dev/null 2>&1 &&
    grep -q '^service ' "$d"/*.proto; then
    log "FAIL: no gRPC stubs for $domain"
    exit 1
  fi
done
cp -r "$root/examples/go-client" "$src/examples-go-client"

export GO111MODULE=off GOPATH="$tmp:/usr/share/gocode" GOCACHE="$tmp/cache" GOFLAGS=
cd "$src"
go vet ./gen/go/... ./examples-go-client
go build -o "$tmp/go-client" ./examples-go-client
log "compiled ./gen/go/... and examples/go-client (GOPATH mode, $(go version | awk '{print $3}'))"

# With a user service address, the compiled client also talks to it.
if [ -n "${GO_CLIENT_TARGET:-}" ]; then
  "$tmp/go-client" "$GO_CLIENT_TARGET" | tee "$tmp/out"
  grep -q '^error AlreadyExists USERNAME_TAKEN im.user.v1$' "$tmp/out"
  log "the Go client registered a user and decoded USERNAME_TAKEN"
fi
