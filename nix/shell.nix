# `nix develop`: docker-compose, Locust, Arion, the Rust toolchain and nixfmt.
#
# The images are not loaded on entry: that builds all three (Locust's is large)
# and needs a running Docker engine, which would make every entry slow and
# break the shell for Rust-only work. The hook prints the one command that does it.
{
  mkShell,
  docker-compose,
  locust,
  arion,
  cargo,
  rustc,
  clippy,
  rustfmt,
  nixfmt,
}:
mkShell {
  packages = [
    docker-compose
    locust
    arion
    cargo
    rustc
    clippy
    rustfmt
    nixfmt
  ];

  shellHook = ''
    echo "wine-lab: load the images into Docker once with 'nix run .#load', then 'docker-compose up' (Locust on http://localhost:8089)" >&2
  '';
}
