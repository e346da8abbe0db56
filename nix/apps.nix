# `nix run .#up`, `.#down` and `.#load`: the five-container stack on the local
# Docker engine, from the images built here and the compose file Arion generates.
# They bring their own docker and docker-compose clients; only the engine must
# already be running.
{
  writeShellApplication,
  docker-client,
  docker-compose,
  images,
  compose,
}:
let
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
in
{
  load = app "wine-lab-load" loadImages;

  up = app "wine-lab-up" ''
    ${loadImages}
    ${dockerCompose} up --detach
    echo "Locust: http://localhost:8089 (stop the stack with: nix run .#down)"
  '';

  down = app "wine-lab-down" ''
    ${dockerCompose} down
  '';
}
