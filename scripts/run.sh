#!/usr/bin/env bash
# Set up and run the bot on its embedded defaults: SQLite in ./var, a local Rasa server,
# the demo survey, local mode unless Twilio credentials are set (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/listening-bot serve "$@"
