#!/usr/bin/env bash
# Builds the Locust image (mlepc4w2-ugl:locust, entrypoint `locust`) without pulling
# from any container registry, and reuses it when it is already up to date.
#
# Why: the lab's stack runs Locust in its fifth container, but these machines (and CI)
# reach no registry, so `docker pull locustio/locust` is impossible. Debian's packages
# and PyPI are reachable, so: debootstrap a minimal Debian bookworm, give it a Python
# venv with `pip install -r tests/requirements.txt`, strip caches and docs, and
# `docker import` the tree. Building takes minutes; the image carries labels with the
# hashes of tests/requirements.txt and of this script, and is rebuilt only when either
# changes (or with --rebuild). The tag comes from deploy/images.json.
#
# Usage: tests/e2e/locust-image.sh [--rebuild]     (root; needs debootstrap, docker)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rebuild=false
[[ "${1:-}" == "--rebuild" ]] && rebuild=true

need_docker
tag="$(images locust-tag)"
requirements="$REPO/tests/requirements.txt"
req_hash="$(sha256_of "$requirements")"
recipe_hash="$(sha256_of "${BASH_SOURCE[0]}")"
mirror="${WINE_LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

up_to_date() {
    local labels
    labels="$(docker image inspect --format \
        '{{index .Config.Labels "wine-lab.requirements-sha256"}} {{index .Config.Labels "wine-lab.recipe-sha256"}}' \
        "$tag" 2>/dev/null)" || return 1
    [[ "$labels" == "$req_hash $recipe_hash" ]]
}

report() {
    local size
    size="$(docker image inspect --format '{{.Size}}' "$tag")"
    log "$tag: $((size / 1000000)) MB ($1)"
}

if ! $rebuild && up_to_date; then
    report "reused: requirements and recipe unchanged"
    exit 0
fi

# From here on a build is needed: debootstrap and chroot need root.
need_tool debootstrap chroot flock sha256sum
[[ "$(id -u)" == 0 ]] || unavailable "building $tag needs root (debootstrap, chroot)"

mkdir -p "$CACHE_DIR/debs" "$WORK_ROOT"
# One build at a time on this machine; a run that waited reuses the other's image.
exec 9>"$CACHE_DIR/locust-image.lock"
flock -w 1800 9 || die "timed out waiting for another Locust image build ($CACHE_DIR/locust-image.lock)"
if ! $rebuild && up_to_date; then
    report "reused: built by a concurrent run"
    exit 0
fi

t0="$(now)"
rootfs="$(mktemp -d "$WORK_ROOT/locust-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

log "debootstrap bookworm (minbase + python3-venv) into $rootfs from $mirror"
timeout 1200 debootstrap --variant=minbase --include=python3,python3-venv \
    --cache-dir="$CACHE_DIR/debs" bookworm "$rootfs" "$mirror" \
    >"$WORK_ROOT/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $WORK_ROOT/debootstrap.log: $(tail -n 3 "$WORK_ROOT/debootstrap.log")"

log "pip install -r tests/requirements.txt into /opt/locust (venv)"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
cp "$requirements" "$rootfs/tmp/requirements.txt"
# pip inside the chroot reaches PyPI the way this machine's own pip does: through
# its CA bundle (which may hold a TLS-inspecting proxy's CA) and its proxy/index
# settings. These are build-time only: /tmp is emptied before the import.
pip_env=(PATH=/usr/bin:/bin HOME=/root PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180)
ca_bundle="${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}"
if [[ -f "$ca_bundle" ]]; then
    cp "$ca_bundle" "$rootfs/tmp/ca-bundle.crt"
    pip_env+=(PIP_CERT=/tmp/ca-bundle.crt)
fi
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST \
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [[ -n "${!var:-}" ]] && pip_env+=("$var=${!var}")
done
timeout 60 chroot "$rootfs" /usr/bin/python3 -m venv /opt/locust
timeout 900 chroot "$rootfs" /usr/bin/env -i "${pip_env[@]}" \
    /opt/locust/bin/pip install --no-cache-dir --quiet -r /tmp/requirements.txt
# pip and setuptools are only needed to install: dropping them saves ~25 MB.
chroot "$rootfs" /opt/locust/bin/python3 -m pip uninstall --yes --quiet pip setuptools
ln -s /opt/locust/bin/locust "$rootfs/usr/local/bin/locust"
chroot "$rootfs" /usr/local/bin/locust --version

log "stripping caches, docs and locales"
: >"$rootfs/etc/resolv.conf"
rm -rf "${rootfs:?}"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* "$rootfs"/tmp/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian "$rootfs"/usr/share/python-wheels
find "$rootfs/opt/locust" -depth -type d -name tests -path '*/site-packages/*/tests' \
    -exec rm -rf {} +

log "docker import as $tag"
old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
tar --numeric-owner -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf - . |
    timeout 600 docker import \
        --change 'ENTRYPOINT ["locust"]' \
        --change 'ENV PATH=/opt/locust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PYTHONUNBUFFERED=1' \
        --change 'EXPOSE 8089/tcp' \
        --change 'WORKDIR /mnt/locust' \
        --change "LABEL wine-lab.requirements-sha256=$req_hash" \
        --change "LABEL wine-lab.recipe-sha256=$recipe_hash" \
        --message "Locust from tests/requirements.txt on Debian bookworm minbase (tests/e2e/locust-image.sh)" \
        - "$tag" >/dev/null
# The replaced image is now untagged: remove it unless a container still uses it.
if [[ -n "$old_id" ]]; then docker rmi "$old_id" >/dev/null 2>&1 || true; fi
report "built in $(since "$t0")s"
