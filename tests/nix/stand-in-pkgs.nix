# A stand-in for one system's nixpkgs package set, for the `nix` test (tests/nix/): only the
# packages and builders this flake calls, each taking the arguments the real one
# takes: closed where the real function's argument set is closed (a misspelt
# argument fails, as it would on a user's machine), open where it has `...`.
# Nothing is built: a "derivation" is a record of what it was called with.
#
# Read (nixpkgs, through the code index; the pinned revision b51242d itself was
# not available, so these are the revisions the index holds):
# - rust/build-rust-package/default.nix @ 00ed845 (buildRustPackage);
# - trivial-builders/default.nix @ 00ee9b6 (writeShellApplication,
#   symlinkJoin, linkFarm, writeText, runCommand);
# - by-name/ar/arion/package.nix @ 258b3c1 (arion.eval, arion.build);
# - by-name/sk/skopeo/package.nix @ 044b684 and by-name/gz/gzip/package.nix
#   @ d38cd33 (packages with bin/skopeo, bin/gzip);
# - docker/default.nix: only an old revision (0000bf7) and a fork's newer
#   streamLayeredImage; the argument list below is that fork's, plus
#   buildLayeredImage's own `compressor` and `meta`. Not verified at the pin.
#   `config` is open in every revision read: docker/default.nix @ 34b7a30 writes
#   it verbatim into the image config (`builtins.toJSON { inherit config; ... }`)
#   and itself sets `config.User = "<uid>:<gid>"`, as nix/images.nix does; its
#   Healthcheck is Docker's (Test, Interval/Timeout/StartPeriod in ns, Retries).
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

  buildLayeredImage =
    args@{
      name,
      tag ? null,
      fromImage ? null,
      contents ? [ ],
      config ? { },
      architecture ? null,
      created ? "1970-01-01T00:00:01Z",
      uid ? 0,
      gid ? 0,
      uname ? "root",
      gname ? "root",
      maxLayers ? 100,
      extraCommands ? "",
      fakeRootCommands ? "",
      enableFakechroot ? false,
      includeStorePaths ? true,
      passthru ? { },
      meta ? { },
      compressor ? "gz",
    }:
    assert maxLayers > 1 || fail "buildLayeredImage: maxLayers must be greater than 1";
    mkDrv "docker-image" "${name}.tar.gz" args { };

  writeText =
    name: text:
    assert isString text || fail "writeText: text must be a string";
    mkDrv "text" name { inherit text; } { inherit text; };

  rustPlatform = {
    # pkgs/build-support/rust/build-rust-package/default.nix @ 00ed845: open
    # (`...`, the rest goes to stdenv.mkDerivation); one of cargoHash,
    # cargoVendorDir or cargoLock must be set.
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
      assert cargoLock == null || requirePath "cargoLock.lockFile" cargoLock.lockFile != null;
      mkDrv "rust-package" (args.name or "${args.pname}-${args.version}") args {
        inherit src;
        inherit (args) version;
        cargoDeps = mkDrv "cargo-vendor" "cargo-vendor-dir" { inherit cargoLock; } { };
      };

    cargoSetupHook = mkDrv "hook" "cargo-setup-hook.sh" { } { };
  };

  # Open: every other attribute becomes an environment variable.
  stdenv.mkDerivation =
    args: mkDrv "derivation" (args.name or "${args.pname}-${args.version}") args { };

  runtimeShell = "${package "bash"}/bin/bash";

  pkgs = {
    inherit
      lib
      system
      stdenv
      rustPlatform
      writeText
      ;

    runCommand =
      name: env: script:
      mkDrv "run-command" name (env // { buildCommand = script; }) { };

    symlinkJoin =
      args@{
        name ? "${args.pname}-${args.version}",
        paths,
        stripPrefix ? "",
        preferLocalBuild ? true,
        allowSubstitutes ? false,
        postBuild ? "",
        failOnMissing ? stripPrefix == "",
        ...
      }:
      mkDrv "symlink-join" name args { };

    linkFarm =
      name: entries:
      assert isAttrs entries || isList entries || fail "linkFarm: entries";
      mkDrv "link-farm" name { inherit entries; } { };

    # pkgs/build-support/trivial-builders/default.nix @ 00ee9b6: closed; the
    # script is written exactly as below (its build runs `bash -n` on it, and
    # passthru.tests.shellcheck runs shellcheck; tests/nix/scripts.rs runs both).
    writeShellApplication =
      args@{
        name,
        text,
        runtimeInputs ? [ ],
        runtimeEnv ? null,
        meta ? { },
        passthru ? { },
        checkPhase ? null,
        excludeShellChecks ? [ ],
        extraShellCheckFlags ? [ ],
        bashOptions ? [
          "errexit"
          "nounset"
          "pipefail"
        ],
        derivationArgs ? { },
        inheritPath ? true,
      }:
      assert
        runtimeEnv == null || fail "writeShellApplication: runtimeEnv is not rendered by the stand-in";
      mkDrv "shell-application" name args {
        meta = meta // {
          mainProgram = name;
        };
        script = ''
          #!${runtimeShell}
          ${concatStringsSep "\n" (map (option: "set -o ${option}") bashOptions)}
        ''
        + (
          if runtimeInputs != [ ] then
            ''

              export PATH="${lib.makeBinPath runtimeInputs}${if inheritPath then ":$PATH" else ""}"
            ''
          else
            ""
        )
        + ''

          ${text}
        '';
      };

    # Open (mkshell/default.nix @ 07c9134: `...` goes to stdenv.mkDerivation).
    mkShell = args: mkDrv "shell" (args.name or "nix-shell") args { };

    dockerTools = {
      inherit buildLayeredImage;
      streamLayeredImage = buildLayeredImage;
      fakeNss = mkDrv "package" "fake-nss" { } { };
    };

    python3Packages.locust = package "locust";

    # pkgs/by-name/ar/arion/package.nix @ 258b3c1: eval and build pass this
    # pkgs and every argument on to Arion's eval-composition.nix.
    arion = package "arion" // {
      eval = args@{ ... }: import ./stand-in-arion.nix ({ inherit pkgs; } // args);
      build =
        args@{ ... }:
        writeText "docker-compose.yaml"
          (import ./stand-in-arion.nix ({ inherit pkgs; } // args)).config.out.dockerComposeYamlText;
    };

    makeWrapper = mkDrv "hook" "make-wrapper-hook" { } { };
    docker-client = package "docker";
    docker-compose = package "docker-compose";
    # pkgs/by-name/sk/skopeo/package.nix @ 044b684: meta.mainProgram "skopeo".
    skopeo = package "skopeo";
    # pkgs/by-name/gz/gzip/package.nix @ d38cd33: bin/gzip.
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
