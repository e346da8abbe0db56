{
  description = "The wine load-testing lab: Rust model servers, their OCI images and the Locust stack";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # Everything this flake builds for one system, each piece from its own
      # file in nix/, which asks for what it needs by name.
      labFor =
        pkgs:
        let
          callPackage = lib.callPackageWith (pkgs // lab);
          lab = {
            locust = pkgs.python3Packages.locust;
            servers = callPackage ./nix/package.nix { };
            wine-lab = callPackage ./nix/lab.nix { };
            model = callPackage ./nix/model.nix { };
            images = callPackage ./nix/images.nix { };
            compose = callPackage ./nix/compose.nix { };
            kubernetes = callPackage ./nix/kubernetes.nix { };
            apps = callPackage ./nix/apps.nix { };
            shell = callPackage ./nix/shell.nix { };
            checks = callPackage ./nix/checks.nix { };
          };
        in
        lab;

      forAllSystems = f: lib.genAttrs systems (system: f (labFor nixpkgs.legacyPackages.${system}));

      app = description: drv: {
        type = "app";
        program = lib.getExe drv;
        meta = { inherit description; };
      };
    in
    {
      packages = forAllSystems (
        lab:
        {
          default = lab.wine-lab;
          inherit (lab) servers wine-lab model;
          image-locust = lab.images.locust;
          images = lab.images.all;
          compose = lab.compose.file;
          compose-workers = lab.compose.workersFile;
          kubernetes = lab.kubernetes.file;
        }
        // lib.mapAttrs' (name: lib.nameValuePair "image-${name}") lab.images.servers
      );

      apps = forAllSystems (lab: {
        default = app "The four servers and Locust on this machine, no Docker" lab.wine-lab;
        up = app "Load the images and start the five-container stack" lab.apps.up;
        up-workers = app "Locust as master and N workers (default 2)" lab.apps.up-workers;
        down = app "Stop the stack and remove its containers and network" lab.apps.down;
        load = app "Load the three images into Docker" lab.apps.load;
        push = app "Copy the three images to a registry: nix run .#push -- REGISTRY" lab.apps.push;
      });

      devShells = forAllSystems (lab: {
        default = lab.shell;
      });

      # Named one by one: callPackage adds `override` to the set it returns.
      checks = forAllSystems (lab: {
        inherit (lab.checks)
          servers
          clippy
          rustfmt
          nixfmt
          compose
          ;
      });

      formatter = lib.genAttrs systems (system: nixpkgs.legacyPackages.${system}.nixfmt);
    };
}
