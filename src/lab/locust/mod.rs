//! Locust, the load generator, as wine-lab drives it: the program found and
//! run as a child process ([`process`]), the Python [`files`] it loads (the
//! locustfile, given or compiled in, and wine-lab's own hook), and the
//! pinned Locust wine-lab installs in a venv of its own when there is none
//! ([`venv`], with the pin beside it in `requirements.txt`).

mod files;
mod process;
pub mod venv;

pub use files::LOCUSTFILE;
pub(crate) use files::LocustFiles;
pub(crate) use process::{CPU_WARNING, Locust, last_line, terminate, wait_or_stop};
