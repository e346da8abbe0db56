//! What a sweep step measured, from three sources: the [`cpu`] time both
//! sides used, Locust's own CSV ([`locust_stats`]), and each server's
//! `GET /metrics`, read as [`prometheus`] text before and after the step and
//! turned into the step's [`server_side`] figures.

mod cpu;
mod locust_stats;
mod prometheus;
mod server_side;

pub(crate) use cpu::{CpuReading, CpuUse, percent_of_core};
pub(crate) use locust_stats::{TargetStats, read_stats};
pub use prometheus::Exposition;
pub use server_side::MEASURED_ROUTE;
pub(crate) use server_side::{Reading, ServerSide};
