# A stand-in for the flake's nixpkgs input, for the `nix` test (tests/nix/): `lib` and
# `legacyPackages` for the two systems the flake supports, holding only what
# the flake calls (see stand-in-lib.nix and stand-in-pkgs.nix).
let
  lib = import ./stand-in-lib.nix;
in
{
  inherit lib;
  legacyPackages =
    lib.genAttrs
      [
        "x86_64-linux"
        "aarch64-linux"
      ]
      (
        system:
        import ./stand-in-pkgs.nix {
          inherit lib system;
        }
      );
}
