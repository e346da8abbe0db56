# The lab's Rust binaries: wine-server, wine-train and wine-lab, unwrapped.
#
# Only the files cargo reads are in the source, so editing README.md, docs or any
# .nix file does not rebuild them. The crate embeds data/ and locustfile.py at
# compile time, build.rs reads Cargo.lock, tests/server_cli.rs reads
# deploy/images.json at run time, and examples/ holds the benchmark's ceiling
# server (checked by `cargo clippy --all-targets`).
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
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../build.rs
      ../src
      ../examples
      ../data
      ../locustfile.py
      ../deploy/images.json
      # Integration tests, without the Nix test helpers (tests/nix.rs itself
      # skips in the sandbox, which has no nix-instantiate).
      (lib.fileset.difference ../tests ../tests/nix)
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  # The tests that run in the build sandbox (loopback only; no Docker, Locust,
  # Python or nix-instantiate): unit tests, model agreement, the servers over
  # HTTP and the binaries' command lines. Not bench_smoke (Python, wrk, PyPI)
  # nor nix (nix-instantiate), which CI runs.
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
