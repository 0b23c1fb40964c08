#!/usr/bin/env bash
# The SMTP test server (aiosmtpd) lives in the shared pytools venv: see install-pytools.sh.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-pytools.sh"
