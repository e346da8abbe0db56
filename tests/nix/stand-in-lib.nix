# A stand-in for nixpkgs' lib, for the `nix` test (tests/nix/): only what the
# repository's Nix files call, each function taking the arguments the real one
# takes and failing where it fails (a missing path, a non-path in a file set, a
# missing function argument). Read against nixpkgs.lib de42d44
# (nix-community's mirror of nixpkgs' lib/; the file and line of each is said
# beside it). CI has no copy of nixpkgs; that the real lib.fileset selects what
# nix/sources.json says was checked by hand (docs/nix.md).
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    functionArgs
    hasAttr
    intersectAttrs
    isFunction
    isList
    isPath
    listToAttrs
    pathExists
    readFile
    substring
    stringLength
    typeOf
    ;

  fail = message: throw "stand-in lib: ${message}";

  # What lib.fileset asks of a path (fileset/internal.nix _coerceResult, and
  # fileset/default.nix fileFilter and toSource): a path, which exists.
  requirePath =
    what: path:
    if !isPath path then
      fail "${what}: expected a path, got a ${typeOf path}"
    else if !pathExists path then
      fail "${what}: ${toString path} does not exist"
    else
      path;

  # strings.nix:798 and :841, without their warning for a path argument.
  hasPrefix = prefix: string: substring 0 (stringLength prefix) string == prefix;
  hasSuffix =
    suffix: string:
    let
      length = stringLength string;
    in
    length >= stringLength suffix
    && substring (length - stringLength suffix) length string == suffix;

  # attrsets.nix:982.
  nameValuePair = name: value: { inherit name value; };

  # modules.nix:1562.
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };

  # A file set: the paths it was built from, each checked as the real one
  # checks it, and how they were combined (the real one also reads the tree).
  toFileset =
    what: value:
    if value._type or null == "fileset" then
      value
    else
      {
        _type = "fileset";
        roots = [ (requirePath what value) ];
        describe = [ (toString value) ];
      };

  fileset = {
    # fileset/default.nix:617: a list, each element a file set or an existing path.
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
          roots = builtins.concatMap (set: set.roots) checked;
          describe = builtins.concatMap (set: set.describe) checked;
        };

    # fileset/default.nix:727: both arguments coerced as unions' elements are.
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

    # fileset/default.nix:806 and internal.nix _fileFilter: a function and an
    # existing path; the predicate gets one attribute more than it may name, so
    # one without `...` fails, and must return a boolean (`if predicate ...`).
    fileFilter =
      predicate: root:
      let
        file = name: {
          inherit name;
          type = "regular";
          hasExt = ext: hasSuffix ".${ext}" name;
          "lib.fileset.fileFilter: The predicate function passed as the first argument must be able to handle extra attributes for future compatibility. If you're using `{ name, file, hasExt }:`, use `{ name, file, hasExt, ... }:` instead." =
            null;
        };
      in
      assert isFunction predicate || fail "fileset.fileFilter: the predicate must be a function";
      assert
        builtins.isBool (predicate (file "default.nix"))
        || fail "fileset.fileFilter: the predicate must return a boolean";
      {
        _type = "fileset";
        roots = [ (requirePath "fileset.fileFilter" root) ];
        describe = [ "files of ${toString root} matching a predicate" ];
      };

    # fileset/default.nix:418: an existing root, and no file of the set outside it.
    toSource =
      { root, fileset }:
      let
        set = toFileset "fileset.toSource" fileset;
        rootString = toString (requirePath "fileset.toSource root" root);
        outside = filter (path: !hasPrefix rootString (toString path)) set.roots;
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
  inherit fileset nameValuePair;

  # attrsets.nix:1343 (through genAttrs' at :1380).
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);

  # attrsets.nix:1015 and :1050 (mapAttrsToList at :1084).
  inherit (builtins) mapAttrs;
  mapAttrs' = f: set: listToAttrs (builtins.attrValues (builtins.mapAttrs f set));

  # lists.nix:785 and attrsets.nix:1477.
  optional = cond: elem: if cond then [ elem ] else [ ];
  optionalAttrs = cond: as: if cond then as else { };

  # trivial.nix:794 and :841.
  importJSON = path: builtins.fromJSON (readFile path);
  importTOML = path: builtins.fromTOML (readFile path);

  # strings.nix:696 (makeSearchPathOutput "bin" "bin"): getOutput "bin" of a
  # stand-in package is the package itself.
  makeBinPath = packages: concatStringsSep ":" (map (package: "${package}/bin") packages);

  # meta.nix:526: without meta.mainProgram the real one warns and guesses the
  # name; every package the flake runs sets it, so the stand-in refuses.
  getExe =
    package:
    "${package}/bin/${
      package.meta.mainProgram or (fail "getExe: ${package.name} has no meta.mainProgram")
    }";

  # modules.nix:1568 and :1571.
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;

  # customisation.nix:266: a function, or the file holding one, called with
  # the attributes it names from `scope`, then `overrides`; one without a
  # default in neither fails the call (the real one aborts). As the real one
  # does (makeOverridable, :151), it adds `override` and `overrideDerivation`
  # to a result that is an attribute set, so an output that exports such a
  # set whole fails here too.
  callPackageWith =
    scope: fn: overrides:
    let
      f = if isFunction fn then fn else import fn;
      wanted = functionArgs f;
      missing = filter (name: !wanted.${name} && !hasAttr name scope && !hasAttr name overrides) (
        attrNames wanted
      );
      result = f (intersectAttrs wanted scope // overrides);
    in
    if missing != [ ] then
      fail "callPackageWith: ${toString fn} asks for ${concatStringsSep ", " missing}, which nixpkgs does not provide"
    else if builtins.isAttrs result then
      result
      // {
        override = _: fail "override is not provided";
        overrideDerivation = _: fail "overrideDerivation is not provided";
      }
    else
      result;

  # Only what nix/package.nix's meta names: licenses/licenses.nix:1050 (the
  # real one also has fullName) and systems/doubles.nix:192 (the real one
  # lists every Linux system).
  licenses.mit.spdxId = "MIT";
  platforms.linux = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  # Helpers of the stand-in pkgs; not part of the real lib.
  _standIn = {
    inherit fail requirePath;
  };
}
