# A stand-in for one system's nixpkgs package set, for tests/nix.rs: only the
# packages and builders this flake calls. A builder takes the argument names
# the real one documents (the subset this repository may use) and fails on any
# other, so a misspelt argument is caught here instead of being silently
# ignored or failing on a user's machine. Nothing is built: a "derivation" is a
# record of what it was called with, which the tests read.
{ lib, system }:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    hashString
    isAttrs
    isFunction
    isList
    isPath
    isString
    mapAttrs
    removeAttrs
    substring
    ;
  inherit (lib._standIn)
    fail
    allStrings
    isStringLike
    requirePath
    ;

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

  # Fails when `args` has a name outside `known`.
  onlyKnown =
    what: known: args:
    let
      unknown = attrNames (removeAttrs args known);
    in
    unknown == [ ] || fail "${what} has no argument ${concatStringsSep ", " unknown}";

  derivationArgs = [
    "nativeBuildInputs"
    "buildInputs"
    "passthru"
    "meta"
    "preferLocalBuild"
    "allowSubstitutes"
  ];

  # The OCI image configuration keys dockerTools passes through.
  imageConfigKeys = [
    "Cmd"
    "Entrypoint"
    "Env"
    "ExposedPorts"
    "Labels"
    "StopSignal"
    "User"
    "Volumes"
    "WorkingDir"
  ];

  buildLayeredImage =
    args@{
      name,
      tag ? null,
      fromImage ? null,
      contents ? [ ],
      config ? { },
      created ? "1970-01-01T00:00:01Z",
      extraCommands ? "",
      fakeRootCommands ? "",
      enableFakechroot ? false,
      maxLayers ? 100,
      includeStorePaths ? true,
      passthru ? { },
      meta ? { },
      compressor ? "gz",
    }:
    assert isString name || fail "buildLayeredImage: name must be a string";
    assert tag == null || isString tag || fail "buildLayeredImage: tag must be a string";
    assert created != "now" || fail "buildLayeredImage: created = \"now\" makes every build differ";
    assert onlyKnown "buildLayeredImage's config" imageConfigKeys config;
    assert
      allStrings (config.Entrypoint or [ ]) || fail "buildLayeredImage: Entrypoint must be strings";
    assert allStrings (config.Env or [ ]) || fail "buildLayeredImage: Env must be strings";
    assert isList contents || isStringLike contents || fail "buildLayeredImage: contents";
    mkDrv "docker-image" "${name}.tar.gz" args {
      imageName = name;
      imageTag = tag;
    };

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

  stdenv = {
    mkDerivation =
      args@{
        name,
        src ? null,
        ...
      }:
      assert onlyKnown "stdenv.mkDerivation" (
        derivationArgs
        ++ [
          "name"
          "src"
          "cargoDeps"
          "buildPhase"
          "installPhase"
          "checkPhase"
          "doCheck"
        ]
      ) args;
      mkDrv "derivation" name args { };
  };
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
    assert isString name || fail "runCommand: the name must be a string";
    assert onlyKnown "runCommand's environment" derivationArgs env;
    assert isString script || fail "runCommand: the script must be a string";
    mkDrv "run-command" name (env // { buildCommand = script; }) { };

  symlinkJoin =
    args@{
      name,
      paths,
      nativeBuildInputs ? [ ],
      postBuild ? "",
      passthru ? { },
      meta ? { },
    }:
    mkDrv "symlink-join" name args { };

  linkFarm =
    name: entries:
    assert isAttrs entries || isList entries || fail "linkFarm: entries";
    mkDrv "link-farm" name { inherit entries; } { };

  # pkgs/build-support/trivial-builders/default.nix @ 00ee9b6: closed; the
  # script is written exactly as below (its build runs `bash -n` on it, and
  # passthru.tests.shellcheck runs shellcheck; tests/nix.rs runs both).
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
    assert runtimeEnv == null || fail "writeShellApplication: runtimeEnv is not rendered by the stand-in";
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

  mkShell =
    args@{
      name ? "nix-shell",
      packages ? [ ],
      inputsFrom ? [ ],
      nativeBuildInputs ? [ ],
      buildInputs ? [ ],
      shellHook ? "",
    }:
    mkDrv "shell" name args { };

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
