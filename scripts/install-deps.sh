#!/usr/bin/env bash
# Installs (Debian/Ubuntu) or checks (elsewhere) what the full build needs beyond Rust.
#
# Every binding but one is pure Rust plus C code that the cc crate compiles (ring, aws-lc).
# The kafka binding links librdkafka, which the rdkafka crate compiles from source with its own
# ./configure and make, and that needs: a C and a C++ compiler, make, pkg-config, and the
# OpenSSL (TLS, SASL SCRAM) and zlib headers. The Dapr Python SDK test needs Python's venv
# module, which Debian and Ubuntu ship separately (python3-venv).
#
#   Debian/Ubuntu: installs the missing packages with apt-get (through sudo when not root).
#   Elsewhere:     checks the tools and prints the command that installs what is missing
#                  (macOS with Homebrew, Fedora with dnf), then fails.
# Idempotent: does nothing when everything is there. Only `./scripts/test.sh` (and a plain
# `cargo build`) need this; `./scripts/example.sh` needs only Rust and a C compiler.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

python_venv_works() {
    local py="${PYTHON:-python3}"
    have "$py" && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1
}

debian() {
    local packages=(build-essential pkg-config libssl-dev zlib1g-dev) missing=() p sudo=""
    if ! python_venv_works; then
        packages+=(python3-venv)
    fi
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "system packages present: ${packages[*]}"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        if ! have sudo; then
            echo "missing system packages: ${missing[*]}; as root, run:" >&2
            echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
            return 1
        fi
        sudo="sudo"
    fi
    echo "installing system packages for the kafka binding's native build (librdkafka): ${missing[*]}"
    echo "  $sudo apt-get install -y ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# Not Debian: check what the build calls, and say how to get what is missing.
other() {
    local missing=()
    have make || missing+=(make)
    { have c++ || have g++ || have clang++; } || missing+=("a C++ compiler")
    have pkg-config || missing+=(pkg-config)
    if [[ "$(uname -s)" == Darwin ]]; then
        # librdkafka's configure and the openssl-sys crate both look in Homebrew's prefix.
        { [[ -d /opt/homebrew/opt/openssl ]] || [[ -d /usr/local/opt/openssl ]] ||
            { have pkg-config && pkg-config --exists openssl; }; } || missing+=("OpenSSL")
    else
        { have pkg-config && pkg-config --exists openssl; } || missing+=("OpenSSL headers")
        { have pkg-config && pkg-config --exists zlib; } || missing+=("zlib headers")
    fi
    python_venv_works || missing+=("Python 3 with venv")
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "build tools present: make, C++ compiler, pkg-config, OpenSSL, zlib, python3 venv"
        return 0
    fi
    local list
    list="$(printf '%s, ' "${missing[@]}")"
    echo "missing for the full build and its tests: ${list%, }" >&2
    if [[ "$(uname -s)" == Darwin ]]; then
        echo "  macOS:  xcode-select --install && brew install openssl@3 pkg-config python@3" >&2
    elif have dnf; then
        echo "  Fedora: sudo dnf install -y gcc gcc-c++ make pkgconf-pkg-config openssl-devel zlib-devel python3" >&2
    else
        echo "  install them with your system's package manager (Debian/Ubuntu: this script does it;" >&2
        echo "  macOS: xcode-select --install && brew install openssl@3 pkg-config;" >&2
        echo "  Fedora: sudo dnf install -y gcc gcc-c++ make pkgconf-pkg-config openssl-devel zlib-devel)" >&2
    fi
    return 1
}

if have dpkg && have apt-get; then
    debian
else
    other
fi
