# Evaluates the flake at `root` (a path string) with the stand-in nixpkgs and
# returns one system's outputs as plain data, for tests/nix/ (evaluate.rs):
#
#   nix-instantiate --eval --strict --json tests/nix/eval-flake.nix \
#     --argstr root "$PWD" --argstr system x86_64-linux
{ root, system }:
let
  flake = import (/. + root + "/flake.nix");
  nixpkgs = import ./stand-in-nixpkgs.nix;
  self = flake.outputs { inherit self nixpkgs; } // {
    outPath = root;
  };
  # A stand-in derivation as its record; JSON would show only its store path.
  # A function (such as the `override` that callPackage adds to a set) is no
  # output Nix accepts, so it fails with its place.
  describe =
    where: value:
    if value ? standIn then
      {
        inherit (value) standIn name args;
        path = value.outPath;
      }
    else if builtins.isFunction value then
      throw "${where} is a function, not a derivation, app or data"
    else if builtins.isAttrs value then
      builtins.mapAttrs (name: describe "${where}.${name}") value
    else
      value;

  pick = output: describe "${output}.${system}" self.${output}.${system};

  # The scripts of nix/apps.nix, as writeShellApplication writes them, with
  # the images and compose file this flake builds.
  pkgs = nixpkgs.legacyPackages.${system};
  apps = nixpkgs.lib.callPackageWith pkgs (/. + root + "/nix/apps.nix") {
    images.all = self.packages.${system}.images;
    compose = nixpkgs.lib.callPackageWith pkgs (/. + root + "/nix/compose.nix") { };
  };
in
{
  # Every output of every system, forced, not only the one described below.
  everySystemEvaluates = builtins.deepSeq (removeAttrs self [ "outPath" ]) true;
  inputs = flake.inputs;
  outputs = builtins.attrNames (removeAttrs self [ "outPath" ]);
  systems = builtins.mapAttrs (_: builtins.attrNames) (removeAttrs self [ "outPath" ]);
  packages = pick "packages";
  apps = pick "apps";
  devShells = pick "devShells";
  checks = pick "checks";
  formatter = pick "formatter";
  scripts = builtins.mapAttrs (_: app: app.script) (
    removeAttrs apps [
      "override"
      "overrideDerivation"
    ]
  );
}
