//! The Nix side of the repository, checked by evaluation with `nix-instantiate`
//! (Debian: nix-bin); nothing is built here. What the Nix build runs (cargo's
//! build and tests, the model, the images' server root, clippy, rustfmt) is
//! rehearsed by tests/nix_sandbox.rs.
//!
//! One subject a file, beside the Nix helpers they evaluate (`eval-*.nix`,
//! `stand-in-*.nix`):
//!
//! - [`tree`]: every `.nix` file parses; a scratch copy of the tree to break;
//! - [`compose`]: `arion-compose.nix`, evaluated as plain `arion up` does (no
//!   module arguments) and as the flake does, equals the seed lab's compose
//!   file and the committed `docker-compose.yml` but for the folder it mounts
//!   (Arion's modules replaced by `stand-in-arion.nix`); with
//!   `arion-workers.nix` merged in, it equals `docker-compose.workers.yml` over
//!   `docker-compose.yml` (Locust as master plus a scalable worker);
//! - [`flake`]: the flake's outputs evaluate for both systems against a
//!   stand-in nixpkgs (`stand-in-*.nix`) whose functions take what the real
//!   ones take;
//! - [`stand_ins`]: the stand-ins fail where the real ones fail: broken copies
//!   of the flake (a misspelt argument, a missing file or attribute), unknown
//!   options and conflicting commands in a composition;
//! - [`kubernetes`]: the manifests `nix/kubernetes.nix` derives from that
//!   stack are `deploy/kubernetes/wine-lab.yaml`, and a second locustfile
//!   added to the compose commands and `nix/sources.json` reaches them without
//!   other edits;
//! - [`pins`]: `flake.lock` holds exactly the nixpkgs pin, which
//!   `arion-pkgs.nix` and the flake's inputs read;
//! - [`scripts`]: the scripts the flake writes pass `bash -n` and shellcheck,
//!   and the push script, run against a stand-in skopeo, copies each image.
//!
//! How they evaluate is [`evaluate`]. The tests that need `nix-instantiate`
//! are `#[ignore]`d; `cargo test --test nix -- --include-ignored` runs them.
//! What was checked only by hand against the real Arion and nixpkgs lib, and
//! what never ran, is in docs/nix.md.
//!
//! The folder tests/nix is outside the Nix build's source (nix/sources.json),
//! so this test is too: it evaluates the Nix files, which that source lacks.

#[path = "../common/mod.rs"]
mod common;

mod compose;
mod evaluate;
mod flake;
mod kubernetes;
mod pins;
mod scripts;
mod stand_ins;
mod tree;
