# `nix run .#up`, `.#up-workers`, `.#down` and `.#load`: the five-container stack
# on the local Docker engine (with Locust workers: up-workers), from the images
# built here and the compose files Arion generates.
# They bring their own docker and docker-compose clients; only the engine must
# already be running.
#
# `nix run .#push -- REGISTRY`: the same images into a registry of the user's
# own, with skopeo and no Docker daemon, for a swarm or cluster whose nodes
# pull them (docs/scale-out.md).
{
  lib,
  writeShellApplication,
  docker-client,
  docker-compose,
  gzip,
  skopeo,
  images,
  compose,
}:
let
  inherit (lib.importJSON ../deploy/images.json) repository;

  # A script that first makes sure the engine answers: one clear line, not a
  # client error, when there is none to talk to.
  app =
    name: text:
    writeShellApplication {
      inherit name;
      runtimeInputs = [
        docker-client
        docker-compose
      ];
      text = ''
        if ! docker info >/dev/null 2>&1; then
          echo "${name}: cannot reach the Docker daemon: start it (or point DOCKER_HOST at it) and make sure you may use it" >&2
          exit 1
        fi
        ${text}
      '';
    };

  loadImages = ''
    for image in ${images.all}/*.tar.gz; do
      docker load --input "$image"
    done
  '';

  dockerCompose = "docker-compose --project-name ${compose.project} --file ${compose.file}";
  # The same project with Locust as master and the locust-worker service.
  dockerComposeWorkers = "docker-compose --project-name ${compose.project} --file ${compose.workersFile}";
in
{
  load = app "wine-lab-load" loadImages;

  up = app "wine-lab-up" ''
    ${loadImages}
    ${dockerCompose} up --detach
    echo "Locust: http://localhost:8089 (stop the stack with: nix run .#down)"
  '';

  # --remove-orphans: also the Locust workers of docker-compose.workers.yml or
  # arion-workers.nix, which this compose file does not name, in the same project.
  # `nix run .#up-workers -- N`: N workers (2 by default).
  up-workers = app "wine-lab-up-workers" ''
    workers=''${1:-2}
    if ! [[ "$workers" =~ ^[1-9][0-9]*$ ]]; then
      echo "wine-lab-up-workers: the number of Locust workers must be a whole number from 1, not '$workers'" >&2
      exit 2
    fi
    ${loadImages}
    ${dockerComposeWorkers} up --detach --scale locust-worker="$workers"
    echo "Locust: http://localhost:8089, master and $workers workers (stop the stack with: nix run .#down)"
  '';

  down = app "wine-lab-down" ''
    ${dockerCompose} down --remove-orphans
  '';

  # `nix run .#push -- REGISTRY [skopeo copy option...]`: each archive
  # result/<tag>.tar.gz (nix/images.nix) to REGISTRY/<repository>:<tag>.
  # Decompressed to a temporary file first: skopeo 1.9.3 (Debian 12) reads a
  # docker-archive only as a plain tar file (a .tar.gz, or a pipe, gave
  # "invalid tar header"), and newer ones read that too. --insecure-policy: no
  # signature policy applies to images built here, and many machines have no
  # /etc/containers/policy.json for skopeo to read.
  push = writeShellApplication {
    name = "wine-lab-push";
    runtimeInputs = [
      gzip
      skopeo
    ];
    text = ''
      if [ "$#" -eq 0 ] || [[ "$1" == -* ]]; then
        echo "usage: nix run .#push -- REGISTRY [skopeo copy option...], e.g. registry.example:5000 --dest-tls-verify=false" >&2
        exit 2
      fi
      registry=''${1%/}
      shift
      scratch=$(mktemp -d)
      trap 'rm -rf "$scratch"' EXIT
      for archive in ${images.all}/*.tar.gz; do
        tag=$(basename "$archive" .tar.gz)
        echo "wine-lab-push: $tag -> $registry/${repository}:$tag" >&2
        gzip --decompress --stdout "$archive" > "$scratch/image.tar"
        skopeo --insecure-policy copy "$@" "docker-archive:$scratch/image.tar" "docker://$registry/${repository}:$tag"
      done
      echo "Pushed. Deploy the swarm stack from this registry with WINE_LAB_REPOSITORY=$registry/${repository} (docs/scale-out.md)."
    '';
  };
}
