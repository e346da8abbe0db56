//! What a sweep step measured, from three sources: the CPU time Locust used
//! ([`cpu`]), Locust's own CSV ([`locust_stats`]), and each server's own
//! figures ([`server_side`]), which Locust's Servers tab computed from the
//! server's `GET /metrics` and wrote beside Locust's CSV.

mod cpu;
mod locust_stats;
mod server_side;

pub(crate) use cpu::LocustCpu;
pub(crate) use locust_stats::{TargetStats, read_stats};
pub(crate) use server_side::{ServerSide, read_server_side, servers_csv};
