# One derivation's source files as a file set, from nix/sources.json: the one
# list of what each source holds, which tests/nix_sandbox.rs also reads to build
# and test exactly that set the way the Nix build does.
{ lib }:
name:
let
  set = (lib.importJSON ./sources.json).${name};
  paths = map (path: ../. + "/${path}");
in
lib.fileset.difference (lib.fileset.unions (paths set.include)) (
  lib.fileset.unions (paths set.exclude)
)
