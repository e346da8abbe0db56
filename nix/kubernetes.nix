# The lab's stack as Kubernetes manifests (`nix build .#kubernetes`): the
# services of the Compose stack with Locust's workers (arion-compose.nix with
# arion-workers.nix), each a Deployment of the same name, a Service for each
# that listens, and Locust's folder as a ConfigMap. Nothing is written twice:
# the images, commands, published ports and mounts come from the Arion
# composition; the port, user and health check of the server images from
# deploy/images.json; the files of the ConfigMap from nix/sources.json's
# "locust" set (the folder `nix run .#up` mounts at /mnt/locust).
#
# deploy/kubernetes/wine-lab.yaml is this list as YAML, for users without Nix:
# tests/nix/kubernetes.rs keeps it equal to this file's output,
# tests/kubernetes.rs checks it against docker-compose.yml and
# deploy/images.json and validates it against the Kubernetes schemas. Why each
# setting is what it is: docs/scale-out.md.
{
  lib,
  writeText,
  compose,
}:
let
  inherit (builtins)
    all
    attrNames
    concatMap
    concatStringsSep
    elem
    elemAt
    filter
    genList
    head
    isString
    length
    listToAttrs
    match
    readFile
    split
    stringLength
    substring
    toJSON
    ;
  inherit (lib) optional optionalAttrs;

  spec = lib.importJSON ../deploy/images.json;
  locustSource = (lib.importJSON ./sources.json).locust;

  fail = message: throw "nix/kubernetes.nix: ${message}";

  # Locust's default for --master-bind-port (the master) and --master-port
  # (a worker), which neither compose command sets: Locust 2.47,
  # locust/argument_parser.py ("Defaults to 5557").
  locustMasterPort = 5557;

  # As many workers as `nix run .#up-workers` starts by default;
  # `kubectl scale deployment/locust-worker --replicas=N` changes it.
  workerReplicas = 2;

  # Small, and only what the lab needs. CPU: requests only, no limit, since
  # CFS throttling would show up as the server latency the lab measures.
  # Memory: a server peaked at 26 MiB under 1,000 connections (docs/docker.md).
  resources = {
    server = {
      requests = {
        cpu = "100m";
        memory = "32Mi";
      };
      limits.memory = "64Mi";
    };
    master = {
      requests = {
        cpu = "100m";
        memory = "128Mi";
      };
      limits.memory = "512Mi";
    };
    # A worker keeps one core busy under load (one Python process).
    worker = {
      requests = {
        cpu = "500m";
        memory = "128Mi";
      };
      limits.memory = "512Mi";
    };
  };

  # The pieces of a string between separators (a regular expression).
  splitOn = separator: string: filter isString (split separator string);

  # A compose command as the list of arguments docker-compose makes of it.
  # Compose splits a string as a shell would; without quotes, escapes or
  # variables that is splitting on spaces, and anything else is refused.
  arguments =
    name: command:
    if command == null then
      [ ]
    else if !isString command then
      command
    else if match ".*[\"'\\\\$].*" command != null then
      fail "service ${name}'s command needs a shell's quoting, which this file does not split"
    else
      filter (word: word != "") (splitOn " +" command);

  # The argument after `flag`, or null.
  valueOf =
    flag: args:
    let
      at = filter (i: elemAt args i == flag) (genList (i: i) (length args - 1));
    in
    if at == [ ] then null else elemAt args (head at + 1);

  number =
    what: string:
    if match "[0-9]+" string == null then
      fail "${what} `${string}` is not a number"
    else
      builtins.fromJSON string;

  # "a:b", as a compose port or volume spells it.
  pairOf =
    what: string:
    let
      parts = splitOn ":" string;
    in
    if length parts != 2 then
      fail "${what} `${string}` is not of the form a:b"
    else
      {
        first = elemAt parts 0;
        second = elemAt parts 1;
      };

  # Kubernetes counts probe times in whole seconds.
  seconds =
    field:
    let
      milliseconds = spec.healthcheck.${field};
    in
    if milliseconds / 1000 * 1000 != milliseconds then
      fail "deploy/images.json's healthcheck.${field} is not whole seconds"
    else
      milliseconds / 1000;

  # deploy/images.json's numeric user, never root.
  user =
    let
      ids = pairOf "deploy/images.json's user" spec.user;
      uid = number "user" ids.first;
    in
    if uid == 0 then
      fail "deploy/images.json's user is root"
    else
      {
        runAsUser = uid;
        runAsGroup = number "group" ids.second;
        runAsNonRoot = true;
      };

  # The image's tag in the repository deploy/images.json names.
  tagOf =
    name: image:
    let
      prefix = "${spec.repository}:";
      size = stringLength prefix;
    in
    if image == null || substring 0 size image != prefix then
      fail "service ${name} runs ${toString image}, not an image of ${spec.repository}"
    else
      substring size (stringLength image) image;

  # The image's HEALTHCHECK (nix/images.nix) as a probe: the same command,
  # timeout and retries. An exec probe, not an httpGet, so that the check is
  # the image's own under both engines (docs/scale-out.md). Its period is the
  # orchestrators' (a Service sends nothing to a pod until it is ready, and
  # after the startup probe the first readiness probe may wait a whole period:
  # kubernetes/kubernetes#96731), not the Compose stack's long idle interval.
  probe = {
    exec.command = [ spec.serverBinary ] ++ spec.healthcheck.args;
    periodSeconds = seconds "orchestratorIntervalMs";
    timeoutSeconds = seconds "timeoutMs";
    failureThreshold = spec.healthcheck.retries;
  };
  # Docker's start period: failures before it ends do not count, then
  # `retries` in a row make the container unhealthy. A startup probe holds
  # the other two back until it first succeeds and gives up after
  # failureThreshold × periodSeconds.
  startupProbe = probe // {
    failureThreshold = seconds "startPeriodMs" / probe.periodSeconds + probe.failureThreshold;
  };

  labels = name: {
    "app.kubernetes.io/name" = name;
    "app.kubernetes.io/part-of" = compose.project;
  };

  # Locust's folder: the files of nix/sources.json's "locust" set, by name.
  configMapName = "locust-files";
  locustFiles =
    let
      named =
        file:
        if match "[-._a-zA-Z0-9]+" file == null then
          fail "nix/sources.json's locust set holds ${file}, which is no ConfigMap key"
        else
          file;
    in
    if locustSource.exclude != [ ] then
      fail "nix/sources.json's locust set excludes files; a ConfigMap holds whole files"
    else
      map named locustSource.include;
  configMap = {
    apiVersion = "v1";
    kind = "ConfigMap";
    metadata = {
      name = configMapName;
      labels = labels configMapName;
    };
    data = listToAttrs (
      map (file: {
        name = file;
        value = readFile (../. + "/${file}");
      }) locustFiles
    );
  };

  # One compose service as what Kubernetes runs.
  describe =
    name: service:
    let
      tag = tagOf name service.image;
      args = arguments name (service.command or null);
      isServer = spec.servers ? ${tag};
      isWorker = elem "--worker" args;
      published = map (pairOf "service ${name}'s port") (service.ports or [ ]);
      mounts = map (volume: (pairOf "service ${name}'s volume" volume).second) (
        service.volumes or [ ]
      );
      # Every locustfile a Locust command loads (-f a.py,b.py) must be in the
      # ConfigMap where it is mounted.
      locustfiles = valueOf "-f" args;
      mounted = concatMap (mount: map (file: "${mount}/${file}") locustFiles) mounts;
      missing = filter (path: !elem path mounted) (splitOn "," locustfiles);
    in
    if !isServer && tag != spec.locustTag then
      fail "service ${name} runs ${service.image}, which deploy/images.json does not define"
    else if length published > 1 then
      fail "service ${name} publishes more than one port, which this file does not name"
    else if !isServer && locustfiles == null then
      fail "service ${name} runs Locust without -f"
    else if !isServer && missing != [ ] then
      fail "service ${name} loads ${head missing}, which nix/sources.json's locust set does not hold"
    else
      {
        inherit
          name
          args
          isServer
          isWorker
          mounts
          ;
        inherit (service) image;
        role =
          if isServer then
            "server"
          else if isWorker then
            "worker"
          else
            "master";
        # The ports it listens on, named, with the port its Service offers.
        ports =
          optional isServer {
            name = "http";
            port = spec.port;
            containerPort = spec.port;
          }
          ++ map (port: {
            name = "web";
            port = number "port" port.first;
            containerPort = number "port" port.second;
          }) published
          ++ optional (elem "--master" args) {
            name = "master";
            port = locustMasterPort;
            containerPort = locustMasterPort;
          };
        masterHost = if isWorker then valueOf "--master-host" args else null;
      };

  stack = map (name: describe name compose.workersServices.${name}.service) (
    attrNames compose.workersServices
  );

  container =
    service:
    {
      inherit (service) name image;
      # The lab uses no registry: the images are loaded into the cluster's
      # nodes (kind load, minikube image load) or pushed to the user's own
      # registry; a tag other than `latest` is not pulled once present.
      imagePullPolicy = "IfNotPresent";
      resources = resources.${service.role};
      securityContext = {
        allowPrivilegeEscalation = false;
        capabilities.drop = [ "ALL" ];
      }
      // optionalAttrs service.isServer { readOnlyRootFilesystem = true; };
    }
    // optionalAttrs (service.args != [ ]) { inherit (service) args; }
    // optionalAttrs (service.ports != [ ]) {
      ports = map (port: {
        inherit (port) name containerPort;
        protocol = "TCP";
      }) service.ports;
    }
    // optionalAttrs service.isServer {
      readinessProbe = probe;
      livenessProbe = probe;
      inherit startupProbe;
    }
    // optionalAttrs (service.mounts != [ ]) {
      volumeMounts = map (mount: {
        name = configMapName;
        mountPath = mount;
        readOnly = true;
      }) service.mounts;
    };

  # Docker lets a non-root process bind a port below 1024
  # (net.ipv4.ip_unprivileged_port_start=0 in each container); Kubernetes does
  # not, but allows this sysctl as a safe one since 1.22 (kubernetes.io,
  # "Using sysctls in a Kubernetes Cluster").
  privilegedPort = optionalAttrs (spec.port < 1024) {
    sysctls = [
      {
        name = "net.ipv4.ip_unprivileged_port_start";
        value = toString spec.port;
      }
    ];
  };

  # A Deployment or Service is named and labelled as its compose service.
  metadataOf = service: {
    inherit (service) name;
    labels = labels service.name;
  };

  deployment = service: {
    apiVersion = "apps/v1";
    kind = "Deployment";
    metadata = metadataOf service;
    spec = {
      replicas = if service.isWorker then workerReplicas else 1;
      selector.matchLabels = labels service.name;
      template = {
        metadata.labels = labels service.name;
        spec = {
          # The lab finds its services by DNS. Kubernetes' service variables
          # (LOCUST_PORT=tcp://…, LOCUST_SERVICE_HOST, …) would only crowd
          # Locust's LOCUST_* settings (locustio/locust#1226).
          enableServiceLinks = false;
          securityContext = {
            seccompProfile.type = "RuntimeDefault";
          }
          // user
          // optionalAttrs service.isServer privilegedPort;
          containers = [ (container service) ];
        }
        // optionalAttrs (service.mounts != [ ]) {
          volumes = [
            {
              name = configMapName;
              configMap.name = configMapName;
            }
          ];
        };
      };
    };
  };

  # Named as the compose service, so http://no-batch:80 and the workers'
  # --master-host resolve in the cluster as on the Compose network.
  kubernetesService = service: {
    apiVersion = "v1";
    kind = "Service";
    metadata = metadataOf service;
    spec = {
      selector = labels service.name;
      ports = map (port: {
        inherit (port) name port;
        targetPort = port.containerPort;
        protocol = "TCP";
      }) service.ports;
    };
  };

  # The services a worker may join: those listening for workers.
  masters = map (service: service.name) (
    filter (service: elem "master" (map (port: port.name) service.ports)) stack
  );
  joined =
    service:
    service.masterHost == null
    || elem service.masterHost masters
    || fail "service ${service.name} joins ${toString service.masterHost}, no Locust master's Service";

  # A service's Deployment, and its Service if it listens.
  objects =
    service:
    [ (deployment service) ] ++ optional (service.ports != [ ]) (kubernetesService service);

  manifests =
    assert all joined stack;
    [ configMap ] ++ concatMap objects stack;
in
{
  inherit manifests;

  # packages.kubernetes: a YAML stream of JSON documents, as kubectl reads it
  # (`kubectl apply -f result`).
  file = writeText "wine-lab.yaml" (concatStringsSep "" (map (m: "---\n${toJSON m}\n") manifests));
}
