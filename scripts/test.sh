#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs first (virtual environment, pip packages).
# PostgreSQL and Redis tests run when TEST_POSTGRES_URL / TEST_REDIS_URL are set (.ci/run sets them),
# and skip with the reason otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
# The browser test drives the Dagster UI with Playwright in Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser test" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null || true
  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null || true; fi
fi
# Peer clients (tests/peer): jsforce, pinned by tests/peer/package-lock.json, into the git-ignored
# tests/peer/node_modules. Without node/npm (or offline) those tests skip and say why.
if command -v npm >/dev/null && command -v node >/dev/null; then
  if [ ! -f tests/peer/node_modules/.package-lock.json ] \
      || [ tests/peer/package-lock.json -nt tests/peer/node_modules/.package-lock.json ]; then
    echo "installing the peer clients (npm ci in tests/peer)" >&2
    npm ci --prefix tests/peer --no-audit --no-fund --loglevel=error >&2 \
      || echo "npm ci failed: the peer-client tests will skip" >&2
  fi
fi
ruff check migration_assets helpdesk_migrate tests benchmarks
set +e
python -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is not a failure of the product.
if [ "$status" = 5 ]; then status=0; fi
exit "$status"
