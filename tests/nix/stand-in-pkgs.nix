# A stand-in for one system's nixpkgs package set, for the `nix` test
# (tests/nix/): only the packages and builders the flake's files ask for.
# Nothing is built: a "derivation" is a record of what it was called with.
#
# Each builder takes what the real one takes: open (`...`) where the real
# argument set is open; where it is closed, only the arguments the flake
# passes, each one the real function takes, so a misspelt one fails as it
# would on a user's machine (an argument the flake does not pass yet fails
# too: add it after reading the real function). Read in nixpkgs through the
# code index (the pinned revision b51242d itself was not available, so these
# are the revisions the index holds):
# - build-support/rust/build-rust-package/default.nix @ 00ed845;
# - build-support/trivial-builders/default.nix @ 00ee9b6 (runCommand,
#   writeText, writeShellApplication, symlinkJoin, linkFarm);
# - build-support/docker/default.nix @ 34b7a30 (buildLayeredImage passes its
#   arguments to streamLayeredImage, whose argument set is closed; the
#   arguments below are also in the newer manual,
#   doc/build-helpers/images/dockertools.section.md @ 0148e16). `config` goes
#   verbatim into the image config (`builtins.toJSON { inherit config; ... }`),
#   so its Healthcheck is Docker's (Test, Interval/Timeout/StartPeriod in ns,
#   Retries);
# - build-support/mkshell/default.nix @ 07c9134 (open);
# - by-name/ar/arion/package.nix @ 258b3c1 (arion.eval, arion.build);
# - by-name/sk/skopeo/package.nix @ 044b684 (meta.mainProgram "skopeo") and
#   by-name/gz/gzip/package.nix @ d38cd33 (bin/gzip).
{ lib, system }:
let
  inherit (builtins)
    concatStringsSep
    hashString
    isAttrs
    isFunction
    isList
    isPath
    isString
    mapAttrs
    substring
    ;
  inherit (lib._standIn) fail requirePath;

  # What the tests see of an argument: derivations by their store path, sources
  # by the files they were made from, paths as strings (never copied into the
  # store), functions as a marker.
  sanitize =
    value:
    if isFunction value then
      "<function>"
    else if isPath value then
      toString value
    else if isList value then
      map sanitize value
    else if isAttrs value then
      if value ? standIn then
        value.outPath
      else if value._type or null == "stand-in-source" then
        { source = value.files; }
      else
        mapAttrs (_: sanitize) value
    else
      value;

  mkDrv =
    kind: name: args: extra:
    let
      recorded = sanitize args;
      hash = substring 0 32 (
        hashString "sha256" (
          builtins.toJSON [
            system
            kind
            name
            recorded
          ]
        )
      );
    in
    {
      standIn = kind;
      inherit name system;
      outPath = "/nix/store/${hash}-${name}";
      args = recorded;
      meta = args.meta or { };
    }
    // extra;

  package = name: mkDrv "package" name { } { meta.mainProgram = name; };

  # trivial-builders: `writeTextFile { inherit name text; }`; the real one also
  # takes (with a warning) what converts to a string.
  writeText =
    name: text:
    assert isString text || fail "writeText: text must be a string";
    mkDrv "text" name { inherit text; } { inherit text; };

  # The composition of Arion's eval-composition.nix (stand-in-arion.nix).
  arionEval = args: import ./stand-in-arion.nix ({ inherit pkgs; } // args);

  pkgs = {
    inherit lib writeText;

    # Open: every other attribute becomes an environment variable.
    stdenv.mkDerivation =
      args: mkDrv "derivation" (args.name or "${args.pname}-${args.version}") args { };

    rustPlatform = {
      # Open (`...`, the rest goes to stdenv.mkDerivation); the real one asserts
      # that one of cargoHash, cargoVendorDir or cargoLock is set, and vendors
      # cargoLock's lockFile (importCargoLock reads it).
      buildRustPackage =
        args@{
          src ? null,
          cargoLock ? null,
          cargoVendorDir ? null,
          ...
        }:
        assert
          cargoLock != null || cargoVendorDir != null || args ? cargoHash
          || fail "buildRustPackage: cargoHash, cargoVendorDir, or cargoLock must be set";
        assert cargoLock == null || isPath (requirePath "cargoLock.lockFile" cargoLock.lockFile);
        mkDrv "rust-package" (args.name or "${args.pname}-${args.version}") args {
          inherit src;
          inherit (args) version;
          cargoDeps = mkDrv "cargo-vendor" "cargo-vendor-dir" { inherit cargoLock; } { };
        };

      cargoSetupHook = mkDrv "hook" "cargo-setup-hook.sh" { } { };
    };

    runCommand =
      name: env: script:
      mkDrv "run-command" name (env // { buildCommand = script; }) { };

    # Open; the real one takes `name`, or `pname` and `version`.
    symlinkJoin =
      args@{
        name,
        paths,
        ...
      }:
      mkDrv "symlink-join" name args { };

    linkFarm =
      name: entries:
      assert
        isAttrs entries || isList entries || fail "linkFarm entries must be either attrs or a list!";
      mkDrv "link-farm" name { inherit entries; } { };

    # The script is written exactly as the real function writes it with these
    # arguments (bashOptions and inheritPath left at their defaults). Its build
    # runs `bash -n` on it and passthru.tests.shellcheck runs shellcheck;
    # tests/nix/scripts.rs runs both. The real one names the script's
    # meta.mainProgram after it (writeTextFile's destination /bin/<name>).
    writeShellApplication =
      args@{
        name,
        text,
        runtimeInputs ? [ ],
      }:
      let
        bashOptions = [
          "errexit"
          "nounset"
          "pipefail"
        ];
        runtimeShell = "${package "bash"}/bin/bash";
      in
      mkDrv "shell-application" name args {
        meta.mainProgram = name;
        script = ''
          #!${runtimeShell}
          ${concatStringsSep "\n" (map (option: "set -o ${option}") bashOptions)}
        ''
        + (
          if runtimeInputs != [ ] then
            ''

              export PATH="${lib.makeBinPath runtimeInputs}:$PATH"
            ''
          else
            ""
        )
        + ''

          ${text}
        '';
      };

    mkShell = args: mkDrv "shell" (args.name or "nix-shell") args { };

    dockerTools = {
      buildLayeredImage =
        args@{
          name,
          tag ? null,
          contents ? [ ],
          config ? { },
          created ? "1970-01-01T00:00:01Z",
          extraCommands ? "",
        }:
        mkDrv "docker-image" "${baseNameOf name}.tar.gz" args { };
      fakeNss = mkDrv "package" "fake-nss" { } { };
    };

    python3Packages.locust = package "locust";

    # eval and build pass this pkgs and every argument on to Arion's
    # eval-composition.nix; build is its config.out.dockerComposeYaml.
    arion = package "arion" // {
      eval = args@{ ... }: arionEval args;
      build =
        args@{ ... }:
        writeText "docker-compose.yaml" (arionEval args).config.out.dockerComposeYamlText;
    };

    makeWrapper = mkDrv "hook" "make-wrapper-hook" { } { };
    docker-client = package "docker";
    docker-compose = package "docker-compose";
    skopeo = package "skopeo";
    gzip = package "gzip";
    cargo = package "cargo";
    rustc = package "rustc";
    clippy = package "clippy";
    rustfmt = package "rustfmt";
    nixfmt = package "nixfmt";
    jq = package "jq";
    yq-go = package "yq";
  };
in
pkgs
