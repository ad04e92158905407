# Habits of the seed project, on pnpm + turbo. `make run` and `make test` work on a fresh machine
# with MariaDB/MySQL and Redis on localhost: they install pnpm 12.4.2 if it is missing.
SHELL := /bin/bash
PNPM_VERSION := 12.4.2
export TURBO_TELEMETRY_DISABLED := 1
export DO_NOT_TRACK := 1
SERVICES := user group message conversation presence

.PHONY: pnpm install tidy generate build run test chaos test-coverage fmt lint migrate docker-build bench clean

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

## run: install, build, migrate, then start every service (logs prefixed per service; Ctrl-C stops all)
run: build
	pnpm migrate all up
	pnpm start

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

docker-build:
	@for s in $(SERVICES); do \
	  docker build -f infra/Dockerfile --build-arg SERVICE=$$s -t im-repo/$$s-service:latest . || exit 1; \
	done

bench: build
	pnpm bench

clean:
	rm -rf node_modules packages/*/node_modules services/*/node_modules tests/*/node_modules \
	  packages/*/dist services/*/dist tests/*/dist packages/proto/src/gen packages/proto/protos .turbo
