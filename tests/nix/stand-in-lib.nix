# A stand-in for nixpkgs' lib, for the `nix` test (tests/nix/): only the functions this
# repository's Nix files call, each taking the arguments the real one takes and
# failing where it fails (a missing file, a non-path in a file set, a missing
# function argument). Checked against nixpkgs.lib de42d44 (nix-community's
# mirror of nixpkgs' lib/): fileset/default.nix (unions, difference, fileFilter,
# toSource), customisation.nix (callPackageWith), meta.nix (getExe),
# modules.nix (mkOverride; mkDefault = mkOverride 1000, mkForce = mkOverride 50),
# importJSON/importTOML, genAttrs, nameValuePair, mapAttrs', makeBinPath,
# lists.nix (optional) and attrsets.nix (optionalAttrs), verbatim. CI
# has no copy of nixpkgs; that the real lib.fileset selects what
# nix/sources.json says was checked by hand (docs/nix.md).
let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    functionArgs
    hasAttr
    intersectAttrs
    isFunction
    isList
    isPath
    isString
    listToAttrs
    map
    pathExists
    readFile
    substring
    stringLength
    ;

  fail = message: throw "stand-in lib: ${message}";

  requirePath =
    what: path:
    if !isPath path then
      fail "${what}: expected a path, got a ${builtins.typeOf path}"
    else if !pathExists path then
      fail "${what}: ${toString path} does not exist"
    else
      path;

  # A definition with a priority: the lowest number wins, a plain one has 100.
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };

  hasPrefix = prefix: string: substring 0 (stringLength prefix) string == prefix;

  # A file set: the paths it was built from, checked to exist, and how to combine them.
  isFileset = value: value._type or null == "fileset";
  toFileset =
    what: value:
    if isFileset value then
      value
    else
      {
        _type = "fileset";
        roots = [ (requirePath what value) ];
        describe = [ (toString value) ];
      };

  fileset = {
    unions =
      sets:
      if !isList sets then
        fail "fileset.unions: expected a list"
      else
        let
          checked = map (toFileset "fileset.unions") sets;
        in
        {
          _type = "fileset";
          roots = builtins.concatLists (map (set: set.roots) checked);
          describe = builtins.concatLists (map (set: set.describe) checked);
        };

    difference =
      positive: negative:
      let
        keep = toFileset "fileset.difference (first argument)" positive;
        drop = toFileset "fileset.difference (second argument)" negative;
      in
      {
        _type = "fileset";
        inherit (keep) roots;
        describe = map (path: "${path} minus ${concatStringsSep ", " drop.describe}") keep.describe;
      };

    fileFilter =
      predicate: root:
      assert isFunction predicate || fail "fileset.fileFilter: the predicate must be a function";
      # The real one passes one more attribute, so a predicate without `...` fails.
      assert
        builtins.isBool (predicate {
          name = "default.nix";
          type = "regular";
          hasExt = ext: ext == "nix";
          "lib.fileset.fileFilter: The predicate function passed as the first argument must be able to handle extra attributes for future compatibility." =
            null;
        })
        || fail "fileset.fileFilter: the predicate must return a boolean";
      {
        _type = "fileset";
        roots = [ (requirePath "fileset.fileFilter" root) ];
        describe = [ "files of ${toString root} matching a predicate" ];
      };

    toSource =
      { root, fileset }:
      let
        set = toFileset "fileset.toSource" fileset;
        rootString = toString (requirePath "fileset.toSource root" root);
        outside = builtins.filter (path: !hasPrefix rootString (toString path)) set.roots;
      in
      if outside != [ ] then
        fail "fileset.toSource: ${toString (builtins.head outside)} is outside the root ${rootString}"
      else
        {
          _type = "stand-in-source";
          outPath = "/nix/store/00000000000000000000000000000000-source";
          # Relative to the root, as the real source's layout is.
          files = map (builtins.replaceStrings [ "${rootString}/" ] [ "" ]) set.describe;
        };
  };
in
{
  inherit fileset;

  genAttrs =
    names: f:
    listToAttrs (
      map (name: {
        inherit name;
        value = f name;
      }) names
    );

  nameValuePair = name: value: { inherit name value; };

  # lists.nix and attrsets.nix, as they are.
  optional = cond: elem: if cond then [ elem ] else [ ];
  optionalAttrs = cond: as: if cond then as else { };

  inherit (builtins) mapAttrs;

  mapAttrs' = f: set: listToAttrs (map (name: f name set.${name}) (attrNames set));

  importTOML = path: builtins.fromTOML (readFile (requirePath "importTOML" path));

  makeBinPath =
    packages:
    assert isList packages || fail "makeBinPath: expected a list";
    concatStringsSep ":" (map (package: "${package}/bin") packages);

  # Without meta.mainProgram the real one warns and falls back to the name.
  getExe =
    package:
    "${package}/bin/${
      package.meta.mainProgram or (builtins.trace
        "warning: getExe: ${package.name} does not have the meta.mainProgram attribute"
        package.name
      )
    }";

  importJSON = path: builtins.fromJSON (readFile (requirePath "importJSON" path));

  inherit mkOverride;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;

  # Calls a function (or the file holding one) with the attributes it names,
  # taken from `scope`, then `overrides`; a name in neither fails the call.
  # Like the real one (through makeOverridable), it adds `override` and
  # `overrideDerivation` to a result that is an attribute set, so an output
  # that exports such a set whole fails here too.
  callPackageWith =
    scope: fn: overrides:
    let
      f = if isFunction fn then fn else import (requirePath "callPackageWith" fn);
      wanted = functionArgs f;
      missing = builtins.filter (
        name: !wanted.${name} && !hasAttr name scope && !hasAttr name overrides
      ) (attrNames wanted);
    in
    if missing != [ ] then
      fail "callPackageWith: ${toString fn} asks for ${concatStringsSep ", " missing}, which nixpkgs does not provide"
    else
      let
        result = f (intersectAttrs wanted scope // overrides);
      in
      if builtins.isAttrs result then
        result
        // {
          override = _: fail "override is not provided";
          overrideDerivation = _: fail "overrideDerivation is not provided";
        }
      else
        result;

  licenses.mit = {
    spdxId = "MIT";
  };

  platforms.linux = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  # Helpers of the stand-in pkgs; not part of the real lib.
  _standIn = {
    inherit fail requirePath;
  };
}
