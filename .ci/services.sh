#!/usr/bin/env bash
# Make sure Postgres, Redis and headless Chromium are there for the test suite.
# Each is started (or installed from Debian's packages) only where it is missing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- Postgres ---
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    have pg_ctlcluster || apt_install postgresql
    echo "starting Postgres"
    cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
    # shellcheck disable=SC2086
    as_root pg_ctlcluster $cluster start || as_root service postgresql start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# --- Redis ---
if ! (have redis-cli && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1); then
    have redis-server || apt_install redis-server
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
echo "redis: $(redis-cli -h 127.0.0.1 -p 6379 ping)"

# --- Chromium for the browser tests (Playwright drives Debian's build) ---
if ! have chromium; then
    echo "installing Debian's chromium for the browser tests"
    apt_install chromium chromium-driver
fi
