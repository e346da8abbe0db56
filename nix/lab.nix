# The main job, `wine-lab`, with Locust on its PATH: `nix run` starts the four
# servers on loopback and load-tests them with Locust, no Docker involved.
#
# A wrapper over `servers` rather than part of it, so the server images, which
# take their binary from `servers`, do not carry Locust and Python.
{
  lib,
  symlinkJoin,
  makeWrapper,
  servers,
  locust,
}:
symlinkJoin {
  name = "wine-lab-${servers.version}";
  paths = [ servers ];
  nativeBuildInputs = [ makeWrapper ];
  postBuild = ''
    wrapProgram $out/bin/wine-lab --prefix PATH : ${lib.makeBinPath [ locust ]}
  '';
  meta = servers.meta // {
    mainProgram = "wine-lab";
  };
}
