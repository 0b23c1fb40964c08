#!/usr/bin/env bash
# Installs the system packages the build needs (idempotent: only missing packages are installed).
#   kafka binding (rdkafka crate, which compiles librdkafka): a C/C++ toolchain, make,
#   pkg-config, OpenSSL headers (TLS, SASL SCRAM) and zlib headers.
set -euo pipefail
PACKAGES=(build-essential pkg-config libssl-dev zlib1g-dev)
missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system packages present: ${PACKAGES[*]}"
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
