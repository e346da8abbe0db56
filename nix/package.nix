# The lab's Rust binaries: wine-server, wine-train and wine-lab, unwrapped.
#
# Only the files cargo and the tests read are in the source (nix/sources.json),
# so editing README.md, docs or any .nix file does not rebuild them.
# tests/nix_sandbox.rs builds and tests exactly that set offline, which is how a
# file read only at run time (deploy/images.json, by tests/server_cli.rs) was
# found missing.
{
  lib,
  rustPlatform,
}:
let
  manifest = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = manifest.package.name;
  inherit (manifest.package) version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = import ./sources.nix { inherit lib; } "servers";
  };

  cargoLock.lockFile = ../Cargo.lock;

  # The tests build in the dev profile: the release profile's fat LTO with one
  # codegen unit links each of the seven test binaries for minutes on 2 cores
  # (the rehearsal took 20 min of build and test in release against a few in
  # debug), while the binaries installed stay release builds.
  checkType = "debug";

  # The tests that run in the build sandbox: those that need only Rust and
  # loopback (unit tests, model agreement, the servers over HTTP, the binaries'
  # command lines). tests/nix_sandbox.rs reads this list and runs it the same way.
  cargoTestFlags = [
    "--lib"
    "--bins"
    "--test"
    "agreement"
    "--test"
    "http"
    "--test"
    "server_cli"
  ];

  meta = {
    inherit (manifest.package) description;
    license = lib.licenses.mit;
    mainProgram = "wine-server";
    platforms = lib.platforms.linux;
  };
}
