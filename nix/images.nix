# The lab's OCI images, all derived from deploy/images.json (the one definition
# of tags, paths, host and port, which the Docker build in tests/e2e reads too).
#
# Server images hold only /bin/wine-server, the model and their runtime closure:
# no shell, no base image. They run as images.json's numeric user, write nothing
# (a read-only root works) and carry a HEALTHCHECK (`wine-server healthcheck`).
# The Locust image is Locust from nixpkgs with `locust` as its entrypoint, like
# the upstream locustio/locust image, so the compose command
# `-f /mnt/locust/locustfile.py` works unchanged; it runs as the same user, and
# `docker stop` sends it SIGINT (see images.json).
#
# `config` goes into the image config as it is (dockerTools' streamLayeredImage
# writes `builtins.toJSON { inherit config; ... }`; nixpkgs 34b7a30, the revision
# the code index holds, and its own streamNixShellImage sets config.User the same
# way), so Healthcheck durations are Docker's nanoseconds.
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

  nanoseconds = milliseconds: milliseconds * 1000000;
  healthcheck = {
    Test = [
      "CMD"
      spec.serverBinary
    ]
    ++ spec.healthcheck.args;
    Interval = nanoseconds spec.healthcheck.intervalMs;
    Timeout = nanoseconds spec.healthcheck.timeoutMs;
    StartPeriod = nanoseconds spec.healthcheck.startPeriodMs;
    Retries = spec.healthcheck.retries;
  };

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
        User = spec.user;
        Healthcheck = healthcheck;
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
      User = spec.user;
      # On SIGTERM Locust exits without its --html report; on SIGINT it writes all.
      StopSignal = spec.locustStopSignal;
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
