#!/usr/bin/env bash
# The main job on the embedded defaults, nothing to configure: starts the emulators with a seeded
# workspace and runs discover -> propose map -> confirm (auto-confirmed in the demo only) -> full
# migration -> reconcile, then prints the report. Pass --pair trengo-tidio for the other pair.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec helpdesk-migrate demo "$@"
