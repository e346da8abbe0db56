//! The servers Locust loads: the lab's four [`targets`] (a server and the
//! Locust task that loads it), run in this process on loopback by the
//! [`stack`], each on a thread whose [`cpu_clock`] tells its CPU use apart,
//! serving the [`served_model`]. Both modes start and stop them as
//! [`LabServers`].

mod cpu_clock;
mod served_model;
mod stack;
mod targets;

pub(crate) use stack::{LabServers, LocalStack};
pub use targets::{TARGETS, Target};
