# A stand-in for Arion's eval-composition.nix (hercules-ci/arion 3534dd9,
# src/nix/eval-composition.nix, which nixpkgs' arion.eval/build call:
# pkgs/by-name/ar/arion/package.nix @ 258b3c1), for tests/nix/ and the stand-in
# pkgs.arion: of its arguments (`modules`, `pkgs`, `uid`, `hostNixStorePrefix`)
# the two the flake passes, and just the options arion-compose.nix and
# arion-workers.nix set, with Arion's names. Modules get `lib`, `config` and
# their `_module.args` (a value set with lib.mkDefault yields to one set
# plainly, as in the module system); an unknown option or a value of the wrong
# type fails.
#
# The real output also has, per service, empty `environment`, `sysctls` and
# `volumes`, a `networks` and an `x-arion` section; the tests compare only the
# fields the seed's compose file sets. The real output was compared by hand
# (docs/nix.md).
{
  modules ? [ ],
  pkgs,
}:
let
  inherit (builtins)
    all
    attrNames
    catAttrs
    concatLists
    concatMap
    concatStringsSep
    filter
    foldl'
    head
    isAttrs
    isFunction
    isList
    isPath
    isString
    length
    listToAttrs
    mapAttrs
    removeAttrs
    ;
  lib = import ./stand-in-lib.nix;

  fail = message: throw "stand-in Arion: ${message}";
  strings = list: isList list && all isString list;
  onlyKnown =
    what: known: set:
    let
      unknown = attrNames (removeAttrs set known);
    in
    if !isAttrs set then
      fail "${what} must be an attribute set"
    else if unknown != [ ] then
      fail "${what} has no option ${concatStringsSep ", " unknown}"
    else
      set;

  given = {
    inherit lib pkgs;
    # The merged result, as the module system passes it (lazily: a module may
    # read another module's definitions, e.g. arion-workers.nix the locust image).
    inherit (result) config;
  };

  # Every module, called with lib and the module arguments all modules define.
  evaluated = map (
    module:
    let
      f = if isPath module then import module else module;
    in
    onlyKnown "a module" [ "_module" "project" "services" ] (
      # As the module system does: the arguments a module names, each looked
      # up lazily, so a module may define its own `_module.args`.
      if isFunction f then
        f (mapAttrs (name: _: given.${name} or args.${name}) (builtins.functionArgs f))
      else
        f
    )
  ) modules;

  # mkDefault is mkOverride 1000; a plain definition has priority 100; the lowest wins.
  priority = value: if value._type or null == "override" then value.priority else 100;
  content = value: if value._type or null == "override" then value.content else value;
  args = mapAttrs (_: content) (
    foldl' (
      chosen: module:
      chosen
      // mapAttrs (
        name: value:
        if chosen ? ${name} && priority chosen.${name} <= priority value then chosen.${name} else value
      ) ((onlyKnown "_module" [ "args" ] (module._module or { })).args or { })
    ) { } evaluated
  );

  # The definitions of one option across the modules: the lowest priority wins;
  # several at that priority are concatenated if they are all lists (Arion's
  # list options), and are a conflict otherwise (stricter than Arion's
  # `command`, whose type concatenates strings, which nothing here wants).
  choose =
    what: definitions:
    let
      lowest = foldl' (low: d: if priority d < low then priority d else low) 1000000 definitions;
      winners = map content (filter (d: priority d == lowest) definitions);
    in
    if length winners == 1 then
      head winners
    else if all isList winners then
      concatLists winners
    else
      fail "${what} has conflicting definitions (use lib.mkForce in one of them)";

  projectName =
    let
      projects = map (onlyKnown "project" [ "name" ]) (catAttrs "project" evaluated);
      names = catAttrs "name" projects;
      name =
        if names == [ ] then fail "project.name must be a string" else choose "project.name" names;
    in
    if isString name then name else fail "project.name must be a string";

  serviceFields = [
    "image"
    "links"
    "ports"
    "volumes"
    "command"
  ];

  checkService =
    name: definitions:
    let
      defined = map (
        value:
        onlyKnown "services.${name}.service" serviceFields (
          (onlyKnown "services.${name}" [ "service" ] value).service or { }
        )
      ) definitions;
      checked = listToAttrs (
        concatMap (
          field:
          let
            values = catAttrs field defined;
          in
          if values == [ ] then
            [ ]
          else
            [
              {
                name = field;
                value = choose "services.${name}.service.${field}" values;
              }
            ]
        ) serviceFields
      );
      check =
        option: valid: type:
        !(checked ? ${option})
        || valid checked.${option}
        || fail "services.${name}.service.${option} must be ${type}";
    in
    assert check "image" isString "a string";
    assert check "links" strings "a list of strings";
    assert check "ports" strings "a list of strings";
    assert check "volumes" strings "a list of strings";
    assert check "command" (
      command: isString command || strings command
    ) "a string or a list of strings";
    checked;

  services =
    let
      defined = catAttrs "services" evaluated;
      names = attrNames (foldl' (union: services: union // services) { } defined);
    in
    if defined == [ ] then
      fail "the composition has no services"
    else
      lib.genAttrs names (name: checkService name (catAttrs name defined));
  composeAttrs = { inherit services; };
  result = {
    config = {
      project.name = projectName;
      services = mapAttrs (_: service: { inherit service; }) services;
      out = {
        dockerComposeYamlAttrs = composeAttrs;
        dockerComposeYamlText = builtins.toJSON composeAttrs;
      };
    };
  };
in
result
