# A stand-in for Arion's module evaluation (src/nix/eval-composition.nix), for
# tests/nix.rs and the stand-in pkgs.arion: just the options arion-compose.nix
# sets, with Arion's option names, and the compose attributes Arion derives
# from them. An unknown option or a value of the wrong type fails.
#
# The real modules also emit, per service, empty `environment`, `sysctls` and
# `volumes`, and an `x-arion` section; the tests compare only the fields the
# seed's compose file sets.
{ modules }:
let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    filter
    foldl'
    isAttrs
    isFunction
    isList
    isPath
    isString
    mapAttrs
    removeAttrs
    ;

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

  # Modules that only set `_module.args` give the other modules their arguments.
  isArgsModule = module: isAttrs module && attrNames module == [ "_module" ];
  moduleArgs = foldl' (args: module: args // module._module.args) { } (filter isArgsModule modules);

  configModules = filter (module: !isArgsModule module) modules;

  evalModule =
    module:
    let
      f = if isPath module then import module else module;
    in
    if isFunction f then
      f (
        {
          config = fail "the stand-in does not provide `config`";
          options = fail "the stand-in does not provide `options`";
          lib = import ./stand-in-lib.nix;
          pkgs = fail "the stand-in does not provide `pkgs`";
        }
        // moduleArgs
      )
    else
      f;

  definition =
    if builtins.length configModules == 1 then
      onlyKnown "the composition" [
        "project"
        "services"
      ] (evalModule (builtins.head configModules))
    else
      fail "expects exactly one composition module, got ${toString (builtins.length configModules)}";

  projectName =
    let
      project = onlyKnown "project" [ "name" ] (definition.project or { });
    in
    if isString (project.name or null) then project.name else fail "project.name must be a string";

  checkService =
    name: value:
    let
      service =
        (onlyKnown "services.${name}" [ "service" ] value).service
          or (fail "services.${name} sets no service options");
      checked = onlyKnown "services.${name}.service" [
        "image"
        "links"
        "ports"
        "volumes"
        "command"
      ] service;
      check =
        option: valid: type:
        if !(checked ? ${option}) || valid checked.${option} then
          true
        else
          fail "services.${name}.service.${option} must be ${type}";
    in
    assert check "image" isString "a string";
    assert check "links" strings "a list of strings";
    assert check "ports" strings "a list of strings";
    assert check "volumes" strings "a list of strings";
    assert check "command" (
      command: isString command || strings command
    ) "a string or a list of strings";
    checked;

  services = mapAttrs checkService (definition.services or (fail "the composition has no services"));

  composeAttrs = {
    inherit services;
    networks.default.name = projectName;
    x-arion.project.name = projectName;
  };
in
{
  config = {
    project.name = projectName;
    services = mapAttrs (_: service: { inherit service; }) services;
    out = {
      dockerComposeYamlAttrs = composeAttrs;
      dockerComposeYamlText = builtins.toJSON composeAttrs;
    };
  };
}
