# `nix flake check`: everything that runs in the build sandbox.
#
# - servers: the package itself, whose build runs the sandbox-safe cargo tests;
# - clippy (-D warnings) and rustfmt on the same sources and vendored crates;
# - nixfmt on every .nix file;
# - compose: docker-compose.yml, the seed's compose file (Locust's image and
#   the Servers tab's extension changed) and the one Arion generates agree
#   service by service.
{
  lib,
  stdenv,
  runCommand,
  rustPlatform,
  cargo,
  rustc,
  clippy,
  rustfmt,
  nixfmt,
  jq,
  yq-go,
  servers,
  compose,
}:
let
  cargoCheck =
    name: tools: command:
    stdenv.mkDerivation {
      name = "wine-lab-${name}";
      inherit (servers) src cargoDeps;
      nativeBuildInputs = [
        rustPlatform.cargoSetupHook
        cargo
        rustc
      ]
      ++ tools;
      buildPhase = ''
        runHook preBuild
        export CARGO_HOME="$TMPDIR/cargo-home"
        ${command}
        runHook postBuild
      '';
      installPhase = ''
        touch "$out"
      '';
    };

  nixFiles = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.fileFilter (file: file.hasExt "nix") ../.;
  };

  spec = builtins.fromJSON (builtins.readFile ../deploy/images.json);
in
{
  inherit servers;

  clippy = cargoCheck "clippy" [ clippy ] ''
    cargo clippy --frozen --all-targets -- --deny warnings
  '';

  rustfmt = cargoCheck "rustfmt" [ rustfmt ] ''
    cargo fmt --all --check
  '';

  nixfmt = runCommand "wine-lab-nixfmt" { nativeBuildInputs = [ nixfmt ]; } ''
    cd ${nixFiles}
    find . -name '*.nix' -print0 | sort -z | xargs -0 nixfmt --check
    touch "$out"
  '';

  compose =
    runCommand "wine-lab-compose"
      {
        nativeBuildInputs = [
          jq
          yq-go
        ];
      }
      ''
        # The fields the seed sets, per service.
        services() {
          jq --sort-keys '.services | map_values({
            image,
            links: (.links // []),
            ports: (.ports // []),
            volumes: (.volumes // []),
            command
          })' "$1"
        }

        yq eval --output-format=json '.' ${../docker-compose.yml} > committed.json
        services committed.json > committed
        # ... and no other field, which this comparison would not see.
        jq --exit-status '[.services[] | keys[]] - ["image", "links", "ports", "volumes", "command"] == []' \
          committed.json

        # Arion's output for the checkout (locustfile.py from ./) is docker-compose.yml.
        services ${compose.checkoutFile} > generated
        diff -u committed generated

        # The seed's compose file, with its two intended changes: Locust from the
        # image built here instead of a registry pull, and the Servers tab's
        # extension loaded beside the seed's locustfile, from the same folder.
        yq eval --output-format=json '.' ${../tests/nix/seed-compose.yml} \
          | jq '.services.locust.image = "${spec.repository}:${spec.locustTag}"
                | .services.locust.command += ",/mnt/locust/locust_servers.py"' > seed.json
        services seed.json > seed
        diff -u seed committed

        # The stack `nix run .#up` starts differs only in where the locust files come from.
        jq '.services.locust.volumes |= map(sub("^[^:]*:"; "./:"))' ${compose.file} > store.json
        services store.json > store
        diff -u committed store
        test -f ${compose.locustDir}/locustfile.py
        test -f ${compose.locustDir}/locust_servers.py

        touch "$out"
      '';
}
