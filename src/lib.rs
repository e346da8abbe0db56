//! The wine load-testing lab, reproduced in Rust.
//!
//! A wine classifier (standard scaler + random forest of 10 trees, trained with
//! smartcore) served over HTTP with the lab's two APIs, and a runner that load-tests
//! four such servers with Locust and reports their latency.
//!
//! - [`features`]: the 13 measurements, the one place their names are written.
//! - [`dataset`]: the wine data and the lab's train/held-out split.
//! - [`model`]: prediction (scaler, trees, votes).
//! - [`train`]: growing the forest with smartcore.
//! - [`model_file`]: the versioned, checksummed model file.
//! - [`api`]: the two HTTP APIs (routes, request validation, FastAPI-shaped errors, OpenAPI).
//! - [`metrics`]: what a server reports at `GET /metrics` (Prometheus text format).
//! - [`server`]: serving an API until a stop signal, draining in-flight requests.
//! - [`lab`]: the main job: the four servers and Locust, interactive or as a latency report.
//! - [`duration`]: durations on the command line, one parser for both binaries.
//! - [`http_client`]: the one HTTP client: a bounded `GET` to a server on this machine.
//! - [`logging`]: the binaries' log set-up.

pub mod api;
pub mod dataset;
pub mod duration;
pub mod features;
pub mod http_client;
pub mod lab;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod server;
pub mod train;
