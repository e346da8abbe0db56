# Locust in distributed mode for Arion, a second module beside arion-compose.nix
# (the seed's five-container stack, unchanged): the locust service becomes the
# master, and the locust-worker service runs the same image and mounted folder
# as a worker that joins it by its service name. Start with as many workers as
# wanted; Arion merges the two modules and hands the rest to docker-compose:
#
#   arion --file arion-compose.nix --file arion-workers.nix up --scale locust-worker=2
#
# The same stack as docker-compose.yml plus docker-compose.workers.yml; a test
# keeps the two in step.
{
  config,
  lib,
  locustFiles,
  ...
}:
let
  # The locust service as arion-compose.nix defines it: image and mounted folder.
  locust = config.services.locust.service;
in
{
  # mkForce: arion-compose.nix sets the command too, and two plain strings
  # would be concatenated by Arion's `command` option, not replaced. Its
  # files, `locustFiles`, come from arion-compose.nix.
  services.locust.service.command = lib.mkForce "${locustFiles} --master";

  services.locust-worker.service = {
    inherit (locust) image volumes;
    command = "${locustFiles} --worker --master-host locust";
  };
}
