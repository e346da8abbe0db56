//! schemathesis (the probe of issue 12) against both servers' `/openapi.json`:
//! every check, a bounded number of generated requests per operation, on a
//! real `wine-server` on loopback. It fails when the description and the
//! server disagree (an answer or status the schema does not allow, data the
//! schema forbids but the server accepts, or the reverse).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, output_with_timeout};

/// Examples per operation: the whole coverage phase and a fuzzing sample,
/// in a few minutes per server on a busy machine.
const MAX_EXAMPLES: &str = "50";

#[test]
#[ignore = "needs schemathesis"]
fn schemathesis_finds_nothing_on_either_api() {
    common::require("st");
    for api in ["no-batch", "with-batch"] {
        let mut server = Server::start(api);
        // Its own folder: schemathesis keeps a hypothesis database in the working directory.
        let workdir = tempfile::tempdir().unwrap();
        let output = output_with_timeout(
            Command::new("st")
                .current_dir(workdir.path())
                .env("NO_COLOR", "1")
                .args(["run", &format!("http://{}/openapi.json", server.addr)])
                .args(["--checks", "all", "--max-examples", MAX_EXAMPLES])
                .args(["--seed", "1", "--workers", "1", "--request-timeout", "10"]),
            Duration::from_secs(600),
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("No issues found"),
            "schemathesis on {api}: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        server.stop();
    }
}
