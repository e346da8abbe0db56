# The seed lab's docker-compose.yml as an Arion composition: four model servers,
# each linked to one Locust service that serves its web UI on port 8089.
#
# Image tags come from deploy/images.json, the one definition of the images.
#
# Module argument `locustDir`: the host folder mounted at /mnt/locust, which must
# hold locustfile.py and locust_servers.py. By default the folder of this file,
# so `arion up` in the repository root works with no arguments (as an absolute
# path: Arion hands docker-compose a generated file elsewhere, so "./" would not
# be this folder).
# The flake passes a store path holding just those files (`nix run .#up`,
# packages.compose); "./" gives the committed docker-compose.yml, which a test
# keeps equal to this file's output.
{
  lib,
  locustDir,
  locustFiles,
  ...
}:
let
  images = builtins.fromJSON (builtins.readFile ./deploy/images.json);

  tag =
    name:
    assert images.servers ? ${name} || name == images.locustTag;
    "${images.repository}:${name}";

  # A model server that Locust reaches by its service name, as in the seed.
  server = name: {
    service.image = tag name;
    service.links = [ "locust" ];
  };
in
{
  _module.args.locustDir = lib.mkDefault (toString ./.);

  # What Locust loads from that folder: the lab's locustfile, unchanged, and
  # beside it locust_servers.py, the Servers tab on Locust's page (each
  # server's own figures). A module argument, so that arion-workers.nix
  # starts its master and workers with the same files.
  _module.args.locustFiles = "-f /mnt/locust/locustfile.py,/mnt/locust/locust_servers.py";

  project.name = "wine-lab";

  services = {
    no-batch = server "no-batch";
    batch-1 = server "with-batch";
    batch-32 = server "with-batch";
    batch-64 = server "with-batch";

    locust.service = {
      image = tag images.locustTag;
      ports = [ "8089:8089" ];
      volumes = [ "${locustDir}:/mnt/locust" ];
      command = locustFiles;
    };
  };
}
