# The nixpkgs Arion evaluates arion-compose.nix with (`arion --pkgs`, whose
# default is ./arion-pkgs.nix): the flake's own, at the revision and hash
# flake.lock pins, so there is no second pin to keep in step.
let
  lock = builtins.fromJSON (builtins.readFile ./flake.lock);
  locked = lock.nodes.${lock.nodes.${lock.root}.inputs.nixpkgs}.locked;
  nixpkgs = builtins.fetchTarball {
    url = "https://github.com/${locked.owner}/${locked.repo}/archive/${locked.rev}.tar.gz";
    sha256 = locked.narHash;
  };
in
import nixpkgs {
  system = builtins.currentSystem;
  config = { };
  overlays = [ ];
}
