#!/usr/bin/env bash
# Installs the deployment tools the image and manifest tests use. Idempotent: does nothing for
# a tool already installed.
#   buildah              Debian package (builds and runs the OCI image without a daemon)
#   kubernetes-validate  PyPI, into a venv at ${BINDERY_CACHE:-<repo>/.cache}/kubevalidate;
#                        it ships the Kubernetes API JSON schemas, so validation is offline
#   BINDERY_CACHE        cache root (default: <repo>/.cache)
#   KUBE_VALIDATE_VERSION  exact version (default: 1.37.0, the one the tests were checked with)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BINDERY_CACHE:-$ROOT/.cache}"

if command -v buildah >/dev/null 2>&1; then
    echo "buildah already installed: $(command -v buildah)"
else
    echo "installing buildah (apt-get) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends buildah >/dev/null
    echo "buildah installed: $(command -v buildah)"
fi

VENV="$CACHE/kubevalidate"
if [[ -x "$VENV/bin/kubernetes-validate" ]]; then
    echo "kubernetes-validate already installed: $VENV/bin/kubernetes-validate"
else
    echo "installing kubernetes-validate into $VENV ..." >&2
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==${KUBE_VALIDATE_VERSION:-1.37.0}"
    echo "kubernetes-validate installed: $VENV/bin/kubernetes-validate"
fi
