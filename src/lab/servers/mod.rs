//! The servers Locust loads: the lab's four [`targets`] (a server and the
//! Locust task that loads it), run in this process on loopback by the
//! [`stack`], serving the [`served_model`].

mod served_model;
mod stack;
mod targets;

pub(crate) use served_model::load_or_train;
pub(crate) use stack::LocalStack;
pub use targets::{TARGETS, Target};
