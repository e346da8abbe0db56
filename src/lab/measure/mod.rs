//! What a sweep step measured, from three sources: the [`cpu`] time both
//! sides used, Locust's own CSV ([`locust_stats`]), and each server's
//! `GET /metrics` ([`server_metrics`]).

pub(crate) mod cpu;
mod locust_stats;
mod server_metrics;

pub(crate) use locust_stats::{TargetStats, read_stats};
pub use server_metrics::{Exposition, MEASURED_ROUTE};
pub(crate) use server_metrics::{Reading, ServerSide};
