#!/usr/bin/env bash
# Provision and deploy the thumbnail pipeline to Google Cloud, idempotently; or tear it down.
# Run `./deploy.sh --help` for every option. The logic is the Python package deployment/
# (see its __init__.py for why), run with the project's pinned environment, .venv, which
# is made first (`make venv`) if it is not there yet.
set -euo pipefail

SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SOURCE_DIR
readonly PYTHON="$SOURCE_DIR/.venv/bin/python"

if [[ ! -x "$PYTHON" ]]; then
  printf 'deploy.sh: making the Python environment first (make venv)\n' >&2
  make -C "$SOURCE_DIR" --no-print-directory venv >&2
fi
cd "$SOURCE_DIR"
exec "$PYTHON" -m deployment "$@"
