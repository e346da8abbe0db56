//! The servers Locust loads: the lab's four [`targets`] (a server and the
//! Locust task that loads it), run in this process on loopback by the
//! [`stack`], each on a thread of its own whose CPU clock its `/metrics`
//! reports, serving the [`served_model`]. Both modes start and stop them as
//! [`LabServers`].

mod served_model;
mod stack;
mod targets;

pub(crate) use stack::{LabServers, LocalStack};
pub use targets::{TARGETS, Target};
