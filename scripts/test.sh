#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs first (virtual environment, pip packages).
# PostgreSQL and Redis tests run when TEST_POSTGRES_URL / TEST_REDIS_URL are set (.ci/run sets them),
# and skip with the reason otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ruff check migration_assets plugins tests benchmarks
set +e
python -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is not a failure of the product.
if [ "$status" = 5 ]; then status=0; fi
exit "$status"
