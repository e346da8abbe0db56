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
    buildRustPackage =
      args@{
        pname,
        version,
        src,
        cargoLock ? null,
        cargoHash ? null,
        cargoTestFlags ? [ ],
        ...
      }:
      assert onlyKnown "buildRustPackage" (
        derivationArgs
        ++ [
          "pname"
          "version"
          "src"
          "cargoLock"
          "cargoHash"
          "cargoBuildFlags"
          "cargoTestFlags"
          "checkFlags"
          "doCheck"
          "postInstall"
        ]
      ) args;
      assert
        (cargoLock == null) != (cargoHash == null) || fail "buildRustPackage: give cargoLock or cargoHash";
      assert cargoLock == null || requirePath "cargoLock.lockFile" cargoLock.lockFile != null;
      assert allStrings cargoTestFlags || fail "buildRustPackage: cargoTestFlags must be strings";
      assert
        src._type or null == "stand-in-source" || fail "buildRustPackage: src must come from lib.fileset";
      mkDrv "rust-package" "${pname}-${version}" args {
        inherit pname version src;
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
in
{
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
      inheritPath ? true,
      derivationArgs ? { },
    }:
    assert isString text || fail "writeShellApplication: text must be a string";
    mkDrv "shell-application" name args {
      meta = meta // {
        mainProgram = name;
      };
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

  arion = package "arion" // {
    eval =
      {
        modules,
        pkgs ? null,
        uid ? "0",
        hostNixStorePrefix ? "",
      }:
      import ./stand-in-arion.nix { inherit modules; };
    build =
      {
        modules,
        pkgs ? null,
        uid ? "0",
        hostNixStorePrefix ? "",
      }:
      writeText "docker-compose.yaml"
        (import ./stand-in-arion.nix { inherit modules; }).config.out.dockerComposeYamlText;
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
}
