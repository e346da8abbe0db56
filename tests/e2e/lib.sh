# shellcheck shell=bash disable=SC2034
# Shared helpers for the end-to-end Docker scripts in tests/e2e (sourced, not run).
#
# Why a file of its own: compose.sh, locust-image.sh and server-images.sh all need the
# same repository paths, cache folder, Docker preflight and "fail or skip" rule, and
# that rule (fail loudly under CI=true, never pass by skipping there) must be one rule.

# debootstrap and chroot live in sbin, which a non-login PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$E2E_DIR/../.." && pwd)"
# Build inputs kept between runs on the same machine (Debian packages, the static
# Rust build): outside the repository so a fresh CI clone reuses them.
CACHE_DIR="${WINE_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wine-lab}"
# Scratch space of one run (rootfs, stats CSVs); never inside the repository.
WORK_ROOT="${E2E_WORK:-/tmp/e2e-work}"
# Exit code meaning "skipped" (automake's convention), understood by tests/compose.rs.
SKIP_CODE=77

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

die() {
    printf '\n[e2e] FAIL: %s\n\n' "$*" >&2
    exit 1
}

# A required tool or service is missing: under CI=true that is a failure with one
# clear message; on a developer's machine the test is skipped, loudly.
unavailable() {
    if [[ "${CI:-}" == "true" ]]; then
        die "$* (CI=true: the Docker end-to-end test must run, it never passes by skipping)"
    fi
    printf '\n[e2e] ######## SKIPPED: %s ########\n' "$*" >&2
    printf '[e2e] ######## (under CI=true this is a failure) ########\n\n' >&2
    exit "$SKIP_CODE"
}

need_tool() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || unavailable "'$tool' is not installed"
    done
}

# The Docker daemon must answer within a bounded time.
need_docker() {
    need_tool docker timeout python3
    local err
    if ! err="$(timeout 20 docker info --format '{{.ServerVersion}}' 2>&1)"; then
        unavailable "no reachable Docker daemon ($(printf '%s' "$err" | tail -n 1))"
    fi
}

now() { date +%s.%N; }

# seconds elapsed since a `now` timestamp, to one decimal
since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

# Per-phase wall times, printed by print_phases.
PHASES=()
phase_start() {
    PHASE_NAME="$1"
    PHASE_T0="$(now)"
    log "── $PHASE_NAME"
}
phase_end() {
    local took
    took="$(since "$PHASE_T0")"
    PHASES+=("$(printf '%-40s %7ss' "$PHASE_NAME" "$took")")
    log "── $PHASE_NAME: ${took}s"
}
print_phases() {
    ((${#PHASES[@]})) || return 0
    printf '[e2e] phase times:\n' >&2
    printf '[e2e]   %s\n' "${PHASES[@]}" >&2
}

images() { python3 "$E2E_DIR/images.py" "$@"; }

sha256_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
