#!/usr/bin/env bash
# Installs OpenSSH's server (Debian openssh-server) for the sftp binding's tests, which start
# their own sshd on a free loopback port with a private config. Idempotent: does nothing when
# /usr/sbin/sshd and ssh-keygen are there. The package's own service is not started.
set -euo pipefail
if [[ -x /usr/sbin/sshd ]] && command -v ssh-keygen >/dev/null; then
    echo "sshd present: /usr/sbin/sshd"
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "installing openssh-server (for the sftp tests)" >&2
$SUDO apt-get update -qq
# policy-rc.d keeps the package's post-install from starting a system sshd on port 22.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=""
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    CREATED_POLICY=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssh-server openssh-client
if [[ -n $CREATED_POLICY ]]; then $SUDO rm -f "$POLICY"; fi
echo "sshd installed: /usr/sbin/sshd"
