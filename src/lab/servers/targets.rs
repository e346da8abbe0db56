//! The lab's four load-test targets: two server programs, four servers.
//!
//! The lab treats the with-batch server fed batches of 1, 32 and 64 rows as three
//! servers; each target here is one server process (or container) and one task of
//! `locustfile.py`, which names its requests and reads its base URL from
//! `<SERVICE>_URL` (e.g. `BATCH_32_URL`).

use crate::api::Api;

/// One server of the lab and the Locust task that loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The request name Locust reports (`name=` in locustfile.py).
    pub name: &'static str,
    /// The Compose service (and host name) of the server.
    pub service: &'static str,
    /// Which API the server runs.
    pub api: Api,
    /// Rows classified per request.
    pub rows_per_request: u32,
}

impl Target {
    /// The environment variable locustfile.py reads this target's base URL from.
    pub fn url_variable(&self) -> String {
        format!("{}_URL", self.service.to_uppercase().replace('-', "_"))
    }
}

/// The four targets, in the order reports list them.
pub const TARGETS: [Target; 4] = [
    Target {
        name: "0:batch",
        service: "no-batch",
        api: Api::NoBatch,
        rows_per_request: 1,
    },
    Target {
        name: "batch-1",
        service: "batch-1",
        api: Api::WithBatch,
        rows_per_request: 1,
    },
    Target {
        name: "batch-32",
        service: "batch-32",
        api: Api::WithBatch,
        rows_per_request: 32,
    },
    Target {
        name: "batch-64",
        service: "batch-64",
        api: Api::WithBatch,
        rows_per_request: 64,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::locust::LOCUSTFILE;

    #[test]
    fn locustfile_names_every_target_and_variable() {
        for target in TARGETS {
            assert!(
                LOCUSTFILE.contains(&format!("name=\"{}\"", target.name)),
                "{}",
                target.name
            );
            // The locustfile derives the variable from the service name the same way.
            assert!(
                LOCUSTFILE.contains(&format!("target(\"{}\")", target.service)),
                "{}",
                target.service
            );
            assert!(
                LOCUSTFILE.contains(&target.url_variable()),
                "{}",
                target.url_variable()
            );
        }
        assert_eq!(TARGETS[2].url_variable(), "BATCH_32_URL");
    }

    #[test]
    fn locustfile_sends_the_batch_sizes_reported() {
        for target in &TARGETS[2..] {
            let rows = format!("for i in range({})]", target.rows_per_request);
            assert!(LOCUSTFILE.contains(&rows), "{}", target.name);
        }
    }
}
