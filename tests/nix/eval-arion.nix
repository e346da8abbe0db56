# Evaluates a composition (arion-compose.nix by default) with the stand-in
# Arion and returns the compose attributes, for tests/nix.rs:
#
#   nix-instantiate --eval --strict --json tests/nix/eval-arion.nix \
#     --argstr composition "$PWD/arion-compose.nix" --argstr locustDir ./
{ composition, locustDir }:
let
  evaluated = import ./stand-in-arion.nix {
    modules = [
      (/. + composition)
      { _module.args.locustDir = locustDir; }
    ];
  };
in
{
  project = evaluated.config.project.name;
  compose = evaluated.config.out.dockerComposeYamlAttrs;
}
