# The lab's OCI images, all derived from deploy/images.json (the one definition
# of tags, paths, host and port, which the Docker build in tests/e2e reads too).
#
# Server images hold only /bin/wine-server, the model and their runtime closure:
# no shell, no base image. The Locust image is Locust from nixpkgs with `locust`
# as its entrypoint, like the upstream locustio/locust image, so the compose
# command `-f /mnt/locust/locustfile.py` works unchanged.
{
  lib,
  dockerTools,
  linkFarm,
  runCommand,
  servers,
  model,
  locust,
}:
let
  spec = builtins.fromJSON (builtins.readFile ../deploy/images.json);
  port = toString spec.port;

  # Fixed, so that every build of an image has the same digest.
  created = "1970-01-01T00:00:01Z";

  # Everything a server image holds besides the store: its binary and its model.
  # A copy of the one binary, so the image does not carry the other two.
  serverRoot = runCommand "wine-server-root" { } ''
    install -D -m 0555 ${servers}/bin/wine-server $out${spec.serverBinary}
    install -D -m 0444 ${model} $out${spec.modelPath}
  '';

  serverImage =
    name: server:
    dockerTools.buildLayeredImage {
      name = spec.repository;
      tag = name;
      inherit created;
      contents = [ serverRoot ];
      config = {
        Entrypoint = [ spec.serverBinary ];
        Env = [
          "WINE_API=${server.api}"
          "WINE_HOST=${spec.host}"
          "WINE_PORT=${port}"
          "WINE_MODEL=${spec.modelPath}"
        ];
        ExposedPorts."${port}/tcp" = { };
      };
    };

  locustImage = dockerTools.buildLayeredImage {
    name = spec.repository;
    tag = spec.locustTag;
    inherit created;
    # fakeNss: /etc/passwd and /etc/group, for Python's user lookups.
    contents = [
      locust
      dockerTools.fakeNss
    ];
    extraCommands = ''
      mkdir -m 1777 tmp
    '';
    config = {
      Entrypoint = [ "locust" ];
      Env = [
        "PATH=/bin"
        "HOME=/tmp"
      ];
      # Locust's web UI.
      ExposedPorts."8089/tcp" = { };
    };
  };

  serverImages = lib.mapAttrs serverImage spec.servers;
  allImages = serverImages // {
    ${spec.locustTag} = locustImage;
  };
  archives = lib.mapAttrs' (tag: lib.nameValuePair "${tag}.tar.gz") allImages;
in
{
  servers = serverImages;
  locust = locustImage;

  # All three as result/<tag>.tar.gz, each ready for `docker load -i`.
  all = linkFarm "${spec.repository}-images" archives;
}
