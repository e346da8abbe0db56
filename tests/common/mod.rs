//! Shared by the integration tests, one concern a file:
//!
//! - [`repo`]: the repository's root, its files as text or JSON, the files git
//!   tracks, and the seed lab beside it;
//! - [`tools`]: the outside programs some tests need ([`require`]);
//! - [`server`]: the package's binaries, a trained model file, and the real
//!   `wine-server` on a loopback port;
//! - [`process`]: child processes run to completion or to a time limit,
//!   signalled, limited, and never left running by a failed assertion;
//! - [`http`]: a raw HTTP/1.1 client that sends exactly the bytes a test asks
//!   for (no header added behind its back), and the locustfile's bodies;
//! - [`shell`]: `bash -n` and shellcheck on a script;
//! - [`prometheus`]: the text format a server writes at `/metrics`, read back.
//!
//! Their names are re-exported here, so a test says `common::Server`.

#![allow(dead_code, unused_imports)] // each test binary uses a different part

pub mod http;
pub mod process;
pub mod prometheus;
pub mod repo;
pub mod server;
pub mod shell;
pub mod tools;

pub use http::{
    Response, batch_body, parse_response, post_json, read_response, request, send_raw, wine_body,
};
pub use process::{
    Guarded, limit, output_with_timeout, run_ok, signal, terminate, wait_with_timeout,
};
pub use repo::{read, read_json, root, seed_blocks, seed_lab, tracked_files};
pub use server::{Server, binary, model_path, server_command};
pub use shell::check_shell_script;
pub use tools::require;
