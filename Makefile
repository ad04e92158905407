# Habits of the seed project, on pnpm + turbo. `make run` and `make test` install pnpm 12.4.2 if it
# is missing; `make run` also starts MySQL, Redis and NATS when they are not running.
SHELL := /bin/bash
PNPM_VERSION := 12.4.2
export TURBO_TELEMETRY_DISABLED := 1
export DO_NOT_TRACK := 1
SERVICES := user group message conversation presence

.PHONY: pnpm install tidy generate build run deps deps-stop test chaos test-coverage fmt lint migrate docker-build test-images bench clean

pnpm:
	@command -v pnpm >/dev/null 2>&1 && [ "$$(pnpm --version)" = "$(PNPM_VERSION)" ] || npm install -g pnpm@$(PNPM_VERSION)

install: pnpm
	pnpm install --frozen-lockfile

tidy: pnpm
	pnpm install
	pnpm dedupe

generate: install
	pnpm generate

build: install
	pnpm build

## run: install, build, make sure MySQL, Redis and NATS answer (scripts/dev-deps.mjs starts what is
## missing: local binaries under .data/, else docker compose), migrate, then start every service
## (logs prefixed per service; Ctrl-C stops all). Events are on unless EVENTS_NATS_URL is set empty.
run: export EVENTS_NATS_URL ?= nats://127.0.0.1:4222
run: build
	node scripts/dev-deps.mjs
	pnpm migrate all up
	pnpm start

## deps: only the dependency step of `make run`; deps-stop stops the instances it started under .data/
deps: export EVENTS_NATS_URL ?= nats://127.0.0.1:4222
deps: build
	node scripts/dev-deps.mjs

deps-stop:
	node scripts/dev-deps.mjs stop

## test: every package's tests against the local MariaDB and Redis (turbo run test), then the
## fault-injection suite on its own (tests/chaos; private MariaDB/Redis/NATS, so never in parallel)
test: install
	pnpm test
	$(MAKE) --no-print-directory chaos

## chaos: the fault-injection suite alone (skips with a note where mariadbd/redis-server/nats-server are missing)
chaos: build
	pnpm --filter @im-repo/chaos-tests chaos

test-coverage: install
	pnpm test:coverage

fmt: install
	pnpm fmt

lint: install
	pnpm lint

## migrate: make migrate [SERVICE=all] [CMD=up|down|status]
migrate: build
	pnpm migrate $(or $(SERVICE),all) $(or $(CMD),up)

## docker-build: the five images (BuildKit; NODE_IMAGE=<image> builds on another Node base image)
docker-build:
	@for s in $(SERVICES); do \
	  DOCKER_BUILDKIT=1 docker build -f infra/Dockerfile --build-arg SERVICE=$$s \
	    $(if $(NODE_IMAGE),--build-arg NODE_IMAGE=$(NODE_IMAGE)) -t im-repo/$$s-service:latest . || exit 1; \
	done

## test-images: build, run and stop the five images on a Docker engine (tests/images/run.sh)
test-images: build
	bash tests/images/run.sh

bench: build
	pnpm bench

clean:
	rm -rf node_modules packages/*/node_modules services/*/node_modules tests/*/node_modules \
	  packages/*/dist services/*/dist tests/*/dist packages/proto/src/gen packages/proto/protos .turbo
