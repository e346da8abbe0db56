#!/usr/bin/env python3
"""Derives the Docker image settings from deploy/images.json, and checks built images.

deploy/images.json is the one definition of the lab's images; nix/images.nix reads it
for the Nix-built images and this file reads it for the Docker build without Nix
(tests/e2e/server-images.sh, tests/e2e/locust-image.sh). The rule its "comment" states
is written out once, in `server_config`, and `check` compares what `docker image
inspect` reports for the built images with it, so a build that drifts from
images.json fails the end-to-end test.

Usage (python3 only, no third-party modules):
    images.py locust-tag                 the Locust image tag, e.g. mlepc4w2-ugl:locust
    images.py servers                    one "<variant> <tag>" line per server image
    images.py paths                      "<serverBinary> <modelPath>"
    images.py port                       the servers' port inside the containers
    images.py changes VARIANT            the `docker import --change` lines for a server
    images.py check                      docker-inspects every image, exits 1 on a mismatch
"""

import json
import pathlib
import subprocess
import sys
import tarfile

IMAGES_JSON = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "images.json"


def load():
    with open(IMAGES_JSON, encoding="utf-8") as f:
        return json.load(f)


def server_tag(spec, variant):
    return f"{spec['repository']}:{variant}"


def locust_tag(spec):
    return f"{spec['repository']}:{spec['locustTag']}"


def server_config(spec, variant):
    """The image config of one server image, as `docker image inspect` shows it."""
    return {
        "Entrypoint": [spec["serverBinary"]],
        "Env": [
            f"WINE_API={spec['servers'][variant]['api']}",
            f"WINE_HOST={spec['host']}",
            f"WINE_PORT={spec['port']}",
            f"WINE_MODEL={spec['modelPath']}",
        ],
        "ExposedPorts": {f"{spec['port']}/tcp": {}},
    }


def import_changes(config):
    """Dockerfile instructions for `docker import --change`, one per element."""
    changes = ["ENTRYPOINT " + json.dumps(config["Entrypoint"])]
    changes += ["ENV " + env for env in config["Env"]]
    changes += ["EXPOSE " + port for port in config["ExposedPorts"]]
    return changes


def inspect(tag):
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config}}", tag],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def image_files(tag):
    """The regular files in an image, listed from `docker export` of a created container."""
    container = subprocess.run(
        ["docker", "create", tag], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            files = {"/" + m.name.lstrip("./") for m in tar if m.isfile()}
        export.wait(timeout=60)
        return files
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True, timeout=60)


def check(spec):
    """Compares the built images' Entrypoint, Env and ExposedPorts with images.json,
    and checks that each server image holds the binary and the model at their paths."""
    wanted = {server_tag(spec, v): server_config(spec, v) for v in spec["servers"]}
    wanted[locust_tag(spec)] = {"Entrypoint": ["locust"]}
    failures = 0
    for tag, config in wanted.items():
        actual = inspect(tag)
        for key, value in config.items():
            got = actual.get(key)
            if key == "Env":
                # Order is not part of the contract; extra variables would be.
                same = sorted(got or []) == sorted(value)
            else:
                same = got == value
            status = "ok  " if same else "FAIL"
            print(f"  {status} {tag} {key}: {json.dumps(got)}"
                  + ("" if same else f" (images.json says {json.dumps(value)})"))
            failures += 0 if same else 1
    for variant in spec["servers"]:
        tag = server_tag(spec, variant)
        files = image_files(tag)
        for path in (spec["serverBinary"], spec["modelPath"]):
            present = path in files
            print(f"  {'ok  ' if present else 'FAIL'} {tag} holds {path}")
            failures += 0 if present else 1
    return failures


def main(argv):
    spec = load()
    command = argv[1] if len(argv) > 1 else ""
    if command == "locust-tag":
        print(locust_tag(spec))
    elif command == "servers":
        for variant in spec["servers"]:
            print(variant, server_tag(spec, variant))
    elif command == "paths":
        print(spec["serverBinary"], spec["modelPath"])
    elif command == "port":
        print(spec["port"])
    elif command == "changes" and len(argv) == 3:
        for change in import_changes(server_config(spec, argv[2])):
            print(change)
    elif command == "check":
        failures = check(spec)
        if failures:
            print(f"images.py check: {failures} setting(s) differ from {IMAGES_JSON}")
            return 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
