#!/usr/bin/env bash
# Builds the two server images (mlepc4w2-ugl:no-batch, mlepc4w2-ugl:with-batch) with
# Docker alone, no Nix and no registry pull.
#
# Why: CI and developers without Nix must run the very images the lab's compose file
# names. The release wine-server is linked statically (glibc, +crt-static) so that it
# runs in an image holding nothing but itself and the model trained by wine-train:
# a `FROM scratch` image, made here with `docker import` of a two-file tree. Every
# setting (tags, binary and model paths, entrypoint, environment, port) is derived
# from deploy/images.json by tests/e2e/images.py, the same file nix/images.nix reads.
# An image whose contents and settings are unchanged (label wine-lab.content-sha256)
# is kept as it is.
#
# Usage: tests/e2e/server-images.sh        (needs cargo, docker)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_docker
need_tool "${CARGO:-cargo}" ldd flock tar sha256sum

triple="$(uname -m)-unknown-linux-gnu"
# Outside the repository by default so that CI's fresh clones reuse the compiled
# dependencies; its own directory so it never waits on the normal target/ builds.
target_dir="${WINE_LAB_STATIC_TARGET_DIR:-$CACHE_DIR/target-static}"
mkdir -p "$CACHE_DIR" "$WORK_ROOT" "$target_dir"

# One build at a time: the binary path in target_dir is shared between runs.
exec 9>"$CACHE_DIR/server-images.lock"
flock -w 1800 9 || die "timed out waiting for another server image build ($CACHE_DIR/server-images.lock)"

t0="$(now)"
log "cargo build --release --target $triple (static, CARGO_TARGET_DIR=$target_dir)"
(
    cd "$REPO"
    unset CARGO_ENCODED_RUSTFLAGS
    CARGO_TARGET_DIR="$target_dir" RUSTFLAGS="-C target-feature=+crt-static" \
        timeout 2400 "${CARGO:-cargo}" build --release --target "$triple" \
        --bin wine-server --bin wine-train
) || die "the static release build of wine-server/wine-train failed"
bin_dir="$target_dir/$triple/release"
log "built in $(since "$t0")s"

for program in wine-server wine-train; do
    linkage="$(ldd "$bin_dir/$program" 2>&1 || true)"
    if [[ "$linkage" != *"not a dynamic executable"* && "$linkage" != *"statically linked"* ]]; then
        die "$bin_dir/$program is not statically linked: $linkage"
    fi
done
if command -v file >/dev/null; then log "$(file -b "$bin_dir/wine-server" | cut -d, -f1-5)"; fi

stage="$(mktemp -d "$WORK_ROOT/server-rootfs.XXXXXX")"
trap 'rm -rf --one-file-system "$stage"' EXIT
paths="$(images paths)"
read -r server_binary model_path <<<"$paths"

log "training the model with wine-train"
"$bin_dir/wine-train" --out "$stage/wine.model" >"$stage/train.log" 2>&1 ||
    die "wine-train failed: $(tail -n 5 "$stage/train.log")"

install -D -m 0555 "$bin_dir/wine-server" "$stage/root$server_binary"
install -D -m 0444 "$stage/wine.model" "$stage/root$model_path"
# A reproducible tarball: same files, same bytes, same hash.
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
    -C "$stage/root" -cf "$stage/rootfs.tar" .

servers="$(images servers)"
while read -r variant tag <&3; do
    changes_text="$(images changes "$variant")"
    mapfile -t changes <<<"$changes_text"
    content="$({ sha256sum <"$stage/rootfs.tar"; printf '%s\n' "${changes[@]}"; } | sha256sum | cut -d' ' -f1)"
    current="$(docker image inspect --format '{{index .Config.Labels "wine-lab.content-sha256"}}' \
        "$tag" 2>/dev/null || true)"
    if [[ "$current" == "$content" ]]; then
        log "$tag: unchanged, kept"
        continue
    fi
    old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
    args=()
    for change in "${changes[@]}"; do args+=(--change "$change"); done
    timeout 300 docker import "${args[@]}" \
        --change "LABEL wine-lab.content-sha256=$content" \
        --message "wine-server + model, FROM scratch (tests/e2e/server-images.sh)" \
        "$stage/rootfs.tar" "$tag" >/dev/null
    if [[ -n "$old_id" ]]; then docker rmi "$old_id" >/dev/null 2>&1 || true; fi
    log "$tag: imported ($(($(docker image inspect --format '{{.Size}}' "$tag") / 1000)) kB)"
done 3<<<"$servers"
log "server images ready in $(since "$t0")s"
