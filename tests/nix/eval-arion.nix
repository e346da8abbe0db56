# Evaluates a composition (arion-compose.nix by default) with the stand-in
# Arion and returns the compose attributes, for tests/nix/compose.rs and
# stand_ins.rs. Without `locustDir`, as plain `arion up` does (no module
# arguments); with `also`, a second module merged in, as `arion --file A
# --file B` does:
#
#   nix-instantiate --eval --strict --json tests/nix/eval-arion.nix \
#     --argstr composition "$PWD/arion-compose.nix" [--argstr locustDir ./] \
#     [--argstr also "$PWD/arion-workers.nix"]
{
  composition,
  locustDir ? null,
  also ? null,
}:
let
  evaluated = import ./stand-in-arion.nix {
    pkgs = { };
    modules = [
      (/. + composition)
    ]
    ++ (if also == null then [ ] else [ (/. + also) ])
    ++ (if locustDir == null then [ ] else [ { _module.args.locustDir = locustDir; } ]);
  };
in
{
  project = evaluated.config.project.name;
  compose = evaluated.config.out.dockerComposeYamlAttrs;
}
