#!/usr/bin/env bash
# Makes the root file system of the Locust image as a tarball: a minimal Debian
# bookworm with Locust in a venv at /opt/locust (`locust` on PATH), nothing pulled
# from a container registry. deploy/locust.Dockerfile turns it into the image.
#
# Why a script: debootstrap and chroot are the whole job, and they are shell tools.
# It is run by tests/e2e/images.rs only when the image's inputs changed (their hash
# is a label on the image); it checks nothing itself.
#
# Usage: tests/e2e/locust-rootfs.sh OUT.tar      (root; needs debootstrap, chroot)
# Env:   WINE_LAB_CACHE (Debian packages are cached in $WINE_LAB_CACHE/debs),
#        WINE_LAB_DEBIAN_MIRROR (http://deb.debian.org/debian)
set -euo pipefail

out="${1:?usage: $0 OUT.tar}"
# debootstrap and chroot live in sbin, which a non-login PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${WINE_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wine-lab}"
mirror="${WINE_LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$cache/debs"

rootfs="$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")"
trap 'rm -rf --one-file-system "$rootfs"' EXIT

echo "debootstrap bookworm (minbase + python3-venv) from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv \
    --cache-dir="$cache/debs" bookworm "$rootfs" "$mirror" >"$rootfs.debootstrap.log" 2>&1 || {
    tail -n 20 "$rootfs.debootstrap.log"
    echo "debootstrap failed (whole log: $rootfs.debootstrap.log)"
    exit 1
}

echo "pip install -r src/lab/locust/requirements.txt into /opt/locust (venv)"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
cp "$repo/src/lab/locust/requirements.txt" "$rootfs/tmp/requirements.txt"
# pip inside the chroot reaches PyPI the way this machine's own pip does: through
# its CA bundle (which may hold a TLS-inspecting proxy's CA) and its proxy/index
# settings. These are build-time only: /tmp is emptied below.
pip_env=(PATH=/usr/bin:/bin HOME=/root PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180)
ca_bundle="${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}"
if [[ -f "$ca_bundle" ]]; then
    cp "$ca_bundle" "$rootfs/tmp/ca-bundle.crt"
    pip_env+=(PIP_CERT=/tmp/ca-bundle.crt)
fi
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST \
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [[ -n "${!var:-}" ]]; then pip_env+=("$var=${!var}"); fi
done
chroot "$rootfs" /usr/bin/python3 -m venv /opt/locust
chroot "$rootfs" /usr/bin/env -i "${pip_env[@]}" \
    /opt/locust/bin/pip install --no-cache-dir --quiet -r /tmp/requirements.txt
# pip and setuptools are only needed to install: dropping them saves ~25 MB.
chroot "$rootfs" /opt/locust/bin/python3 -m pip uninstall --yes --quiet pip setuptools
ln -s /opt/locust/bin/locust "$rootfs/usr/local/bin/locust"
chroot "$rootfs" /usr/local/bin/locust --version

echo "stripping caches, docs and locales"
: >"$rootfs/etc/resolv.conf"
rm -rf "${rootfs:?}"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* "$rootfs"/tmp/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian "$rootfs"/usr/share/python-wheels
find "$rootfs/opt/locust" -depth -type d -name tests -path '*/site-packages/*/tests' \
    -exec rm -rf {} +

tar --numeric-owner -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$out" .
rm -f "$rootfs.debootstrap.log"
echo "wrote $out ($(($(stat -c %s "$out") / 1000000)) MB)"
