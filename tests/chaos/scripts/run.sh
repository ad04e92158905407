#!/usr/bin/env bash
# The fault-injection suite needs its own MariaDB, Redis and NATS binaries (it starts private
# instances on free ports). Where they are missing it says so and passes, so `make test` works
# on a machine without them.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for bin in mariadbd mariadb-install-db mariadb-admin redis-server redis-cli nats-server; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "chaos suite skipped: ${missing[*]} not on the PATH (Debian: apt-get install mariadb-server redis-server nats-server)"
  exit 0
fi
export PATH="$PATH:/usr/sbin"
exec mocha "$@"
