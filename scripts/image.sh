#!/usr/bin/env bash
# Builds bindery's container image with buildah, from scratch: the release binary, only the
# shared libraries it links (as `ldd` lists them, with the dynamic loader), CA certificates, a
# non-root user (65532), bindery as the entrypoint. No daemon: buildah with the vfs driver.
# Writes an OCI archive to target/image/bindery.tar (image name bindery:<version>).
#   BINDERY_IMAGE_BINARY   use this binary instead of building one
#   BINDERY_IMAGE_PROFILE  cargo profile to build (default: release; an up-to-date release
#                          build is reused as it is)
#   BINDERY_IMAGE_OUT      where to write the archive (default: <repo>/target/image/bindery.tar)
#   BINDERY_BUILDAH_ROOT   buildah storage root (default: buildah's own, /var/lib/containers)
#   CARGO_TARGET_DIR       where cargo builds (default: <repo>/target)
# Load it with `podman load -i target/image/bindery.tar`, `skopeo copy oci-archive:... docker://...`
# or `buildah from oci-archive:target/image/bindery.tar`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PROFILE="${BINDERY_IMAGE_PROFILE:-release}"
OUT="${BINDERY_IMAGE_OUT:-$ROOT/target/image/bindery.tar}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
command -v buildah >/dev/null || { echo "buildah is not installed (scripts/install-deploy-tools.sh)" >&2; exit 1; }

BIN="${BINDERY_IMAGE_BINARY:-}"
if [[ -z "$BIN" ]]; then
    # Called from a test, cargo's per-crate variables are inherited; build scripts that watch
    # them (ring watches CARGO_MANIFEST_DIR) would make every switch between a shell and a test
    # rebuild the whole release build.
    while read -r var; do unset "$var"; done < <(env | sed -n 's/^\(CARGO_\(MANIFEST_[A-Z_]*\|PKG_[A-Z_]*\|CRATE_[A-Z_]*\|BIN_[A-Za-z0-9_-]*\|PRIMARY_PACKAGE\|TARGET_TMPDIR\)\)=.*/\1/p')
    echo "== cargo build --profile $PROFILE -p bindery" >&2
    (cd "$ROOT" && cargo build --locked --profile "$PROFILE" -p bindery)
    dir="$PROFILE"; [[ "$PROFILE" == dev ]] && dir=debug
    BIN="$TARGET/$dir/bindery"
fi
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

BUILDAH=(buildah --storage-driver vfs)
if [[ -n "${BINDERY_BUILDAH_ROOT:-}" ]]; then
    BUILDAH+=(--root "$BINDERY_BUILDAH_ROOT/root" --runroot "$BINDERY_BUILDAH_ROOT/run")
fi

STAGE="$(mktemp -d)"
CTR=""
cleanup() {
    rm -rf "$STAGE"
    if [[ -n "$CTR" ]]; then "${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# The root file system: the binary, its libraries at the paths the loader looks for them.
install -D -m 0755 "$BIN" "$STAGE/bindery"
ldd "$BIN" | awk '/=> \// {print $3} /^\s*\/.*ld-linux/ {print $1}' | sort -u | while read -r lib; do
    install -D -m 0644 "$(readlink -f "$lib")" "$STAGE$lib"
done
chmod 0755 "$STAGE"/lib64/ld-linux-*.so.* 2>/dev/null || true
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$STAGE/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$STAGE/tmp" && chmod 1777 "$STAGE/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nbindery:x:65532:65532:bindery:/nonexistent:/sbin/nologin\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\nbindery:x:65532:\n' > "$STAGE/etc/group"
printf 'hosts: files dns\n' > "$STAGE/etc/nsswitch.conf"
echo "== files in the image" >&2
(cd "$STAGE" && find . -type f -printf '%10s %p\n' | sort -k2) >&2

CTR="$("${BUILDAH[@]}" from scratch)"
"${BUILDAH[@]}" copy --chown 0:0 --quiet "$CTR" "$STAGE/" / >/dev/null
"${BUILDAH[@]}" config \
    --user 65532:65532 \
    --workingdir / \
    --entrypoint '["/bindery"]' \
    --cmd '[]' \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --port 3500 --port 50001 --port 9090 \
    --label org.opencontainers.image.title=bindery \
    --label "org.opencontainers.image.version=$VERSION" \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    "$CTR"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
"${BUILDAH[@]}" commit --quiet --format oci --rm "$CTR" "oci-archive:$OUT:bindery:$VERSION" >/dev/null
CTR=""
echo "image bindery:$VERSION written to $OUT ($(du -h "$OUT" | cut -f1))"
