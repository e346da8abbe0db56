#!/usr/bin/env bash
# The lab's five-container stack on a real Docker engine, end to end.
#
# What: builds the images without any registry (tests/e2e/locust-image.sh,
# tests/e2e/server-images.sh), checks their settings against deploy/images.json,
# starts the stack from the repository's own docker-compose.yml (the file users run,
# locustfile mounted at /mnt/locust), runs Locust headless in the locust service
# against the service names (http://batch-1:80 ...) for a short bounded run, asserts
# zero failures and requests for all four names, stops the stack and asserts that
# every server exits within E2E_STOP_LIMIT seconds of its SIGTERM, then removes the
# stack and asserts that none of its containers or networks remain, also when a step
# failed (EXIT trap).
#
# Why: this is the only test that runs what users run (`docker-compose up`), so a
# broken image, port, environment, model path or shutdown path shows up here.
#
# Isolation: a unique Compose project name per run, so runs never collide; the one
# test-only addition to the compose file is an override that makes the project's
# network `internal`, so every request stays on the stack's own Docker network.
# Locust runs as a one-off `docker-compose run` of the locust service, which keeps
# its image, volume and command but publishes no host port.
#
# Under CI=true a missing Docker daemon (or tool) is a failure; elsewhere the test is
# skipped loudly (exit 77). Every wait is bounded by `timeout`.
#
# Usage: tests/e2e/compose.sh
# Knobs: E2E_LOCUST_USERS (20), E2E_LOCUST_RUN_TIME (10s), E2E_STOP_LIMIT (2.0 seconds)
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

users="${E2E_LOCUST_USERS:-20}"
run_time="${E2E_LOCUST_RUN_TIME:-10s}"
stop_limit="${E2E_STOP_LIMIT:-2.0}"
# The request names of locustfile.py, one per server.
expected_names=(batch-1 batch-32 batch-64 0:batch)

need_docker
need_tool docker-compose
compose_file="$REPO/docker-compose.yml"
[[ -f "$compose_file" ]] || die "no compose file at $compose_file"

project="wine-e2e-$(date +%Y%m%d%H%M%S)-$$"
run_dir="$WORK_ROOT/$project"
mkdir -p "$run_dir"
override="$run_dir/internal-network.yml"
cat >"$override" <<'EOF'
# Test-only override (tests/e2e/compose.sh): no route out of the stack's network.
version: "3.9"
networks:
  default:
    internal: true
EOF

# docker-compose on this run's project, bounded in time, never reading stdin.
dc() {
    local limit="$1"
    shift
    timeout "$limit" docker-compose --project-name "$project" \
        --file "$compose_file" --file "$override" "$@" </dev/null
}

leftovers() {
    docker ps --all --quiet --filter "label=com.docker.compose.project=$project"
    docker network ls --quiet --filter "label=com.docker.compose.project=$project"
    docker network ls --quiet --filter "name=${project}_"
}

stack_started=false
stack_down=false
# The script's own stdout/stderr: a trap can fire inside a command whose output is
# redirected (the Locust run's log), and its report must still reach the terminal.
exec 7>&1 8>&2
finish() {
    local rc=$?
    set +e
    exec 1>&7 2>&8
    if $stack_started && ! $stack_down; then
        log "cleaning up after a failure: docker-compose down"
        dc 120 down --volumes --remove-orphans --timeout 10 >&2
        if [[ -n "$(leftovers)" ]]; then
            printf '[e2e] FAIL: project %s left containers/networks behind:\n' "$project" >&2
            docker ps --all --filter "label=com.docker.compose.project=$project" >&2
            docker network ls --filter "name=${project}_" >&2
            ((rc == 0)) && rc=1
        fi
    fi
    print_phases
    if ((rc == 0)); then
        rm -rf "$run_dir"
        printf '[e2e] PASS: the five-container stack (project %s)\n' "$project" >&2
    else
        printf '[e2e] FAILED (exit %s); run files kept in %s\n' "$rc" "$run_dir" >&2
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "project $project, compose file $compose_file, Docker $(docker version --format '{{.Server.Version}}')"

phase_start "Locust image"
bash "$E2E_DIR/locust-image.sh"
phase_end

phase_start "server images"
bash "$E2E_DIR/server-images.sh"
phase_end

phase_start "image settings vs images.json"
images check >&2
phase_end

services_text="$(dc 60 config --services)"
mapfile -t services <<<"$services_text"
servers=()
for service in "${services[@]}"; do
    [[ "$service" == locust ]] || servers+=("$service")
done
((${#servers[@]} == 4)) || die "expected four server services in $compose_file, found: ${servers[*]}"
port="$(images port)"

phase_start "start the four servers"
# --no-deps: the servers' `links: [locust]` would otherwise also start the locust
# service with its UI port published on the host.
stack_started=true
dc 120 up --detach --no-deps "${servers[@]}"
internal="$(docker network inspect --format '{{.Internal}}' "${project}_default")"
[[ "$internal" == true ]] || die "the stack's network ${project}_default is not internal"
phase_end

phase_start "wait until each server answers GET /"
urls=()
for service in "${servers[@]}"; do urls+=("http://$service:$port/"); done
dc 90 run --rm --no-deps -T --entrypoint python3 locust -c '
import sys, time, urllib.request
deadline = time.monotonic() + 60
for url in sys.argv[1:]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    print("ready:", url)
                    break
                error = f"status {response.status}"
        except Exception as e:
            error = e
        if time.monotonic() > deadline:
            sys.exit(f"not ready after 60 s: {url}: {error}")
        time.sleep(0.2)
' "${urls[@]}" >&2
phase_end

phase_start "Locust headless: $users users, $run_time"
# No command override: the compose file's own `-f /mnt/locust/locustfile.py` runs,
# made headless and bounded by Locust's LOCUST_* environment variables.
locust_rc=0
dc 180 run --rm --no-deps -T -v "$run_dir:/out" \
    -e LOCUST_HEADLESS=true -e LOCUST_USERS="$users" -e LOCUST_SPAWN_RATE="$users" \
    -e LOCUST_RUN_TIME="$run_time" -e LOCUST_STOP_TIMEOUT=5 \
    -e LOCUST_CSV=/out/stats -e LOCUST_ONLY_SUMMARY=true \
    locust >"$run_dir/locust.log" 2>&1 || locust_rc=$?
tail -n 30 "$run_dir/locust.log" >&2
phase_end

phase_start "assert Locust's stats"
python3 - "$run_dir/stats_stats.csv" "$locust_rc" "${expected_names[@]}" >&2 <<'EOF'
import csv, sys

path, locust_rc, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
try:
    with open(path, newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
except FileNotFoundError:
    sys.exit(f"Locust wrote no stats ({path}); exit code {locust_rc}")
problems = []
for name in expected + ["Aggregated"]:
    row = rows.get(name)
    if row is None:
        problems.append(f"no row for {name!r}")
        continue
    requests, failures = int(row["Request Count"]), int(row["Failure Count"])
    print(f"  {name:<10} requests {requests:>7}  failures {failures}  "
          f"median {row['Median Response Time']} ms  p95 {row['95%']} ms  "
          f"{float(row['Requests/s']):.0f} req/s")
    if requests <= 0:
        problems.append(f"{name!r} got no requests")
    if failures != 0:
        problems.append(f"{name!r} had {failures} failures")
try:
    with open(path.replace("_stats.csv", "_failures.csv"), newline="") as f:
        for row in csv.DictReader(f):
            problems.append(f"{row['Name']}: {row['Occurrences']} x {row['Error']}")
except FileNotFoundError:
    pass
unexpected = set(rows) - set(expected) - {"Aggregated"}
if unexpected:
    problems.append(f"unexpected request names {sorted(unexpected)}")
if locust_rc != 0:
    problems.append(f"locust exited with {locust_rc}")
if problems:
    sys.exit("Locust run failed: " + "; ".join(problems))
EOF
phase_end

phase_start "stop: each server exits on SIGTERM"
stop_t0="$(now)"
dc 120 stop --timeout 10
stop_t1="$(now)"
log "docker-compose stop took $(python3 -c "print(f'{$stop_t1 - $stop_t0:.2f}')")s"
timeout 30 docker events --since "$stop_t0" --until "$stop_t1" --format '{{json .}}' \
    --filter type=container --filter "label=com.docker.compose.project=$project" \
    >"$run_dir/stop-events.jsonl"
python3 - "$run_dir/stop-events.jsonl" "$stop_limit" "${servers[@]}" >&2 <<'EOF'
import json, sys

path, limit, servers = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
by_service = {}
with open(path) as f:
    for line in f:
        event = json.loads(line)
        attrs = event["Actor"]["Attributes"]
        service = attrs.get("com.docker.compose.service")
        by_service.setdefault(service, []).append((event["timeNano"], event["Action"], attrs))
problems = []
for service in servers:
    events = sorted(by_service.get(service, []), key=lambda e: e[0])
    sigterm = next((t for t, action, a in events if action == "kill" and a.get("signal") == "15"), None)
    died = next(((t, a) for t, action, a in events if action == "die"), None)
    killed = any(action == "kill" and a.get("signal") == "9" for _, action, a in events)
    if sigterm is None or died is None:
        problems.append(f"{service}: no SIGTERM/exit seen ({[e[1] for e in events]})")
        continue
    seconds = (died[0] - sigterm) / 1e9
    code = died[1].get("exitCode")
    print(f"  {service:<10} exited {seconds:.3f} s after SIGTERM, exit code {code}")
    if killed:
        problems.append(f"{service}: needed SIGKILL")
    if seconds >= limit:
        problems.append(f"{service}: took {seconds:.3f} s (limit {limit} s)")
if problems:
    sys.exit("slow or unclean stop: " + "; ".join(problems))
EOF
phase_end

phase_start "down: nothing of the project remains"
dc 120 down --volumes --remove-orphans --timeout 10
stack_down=true
left="$(leftovers)"
[[ -z "$left" ]] || die "after down, project $project still has containers/networks: $left"
log "no container and no network of $project remain"
phase_end
