//! Real sockets for tests: private network namespaces that vanish with
//! their thread (`netns`) and builders of sockets in every TCP state
//! (`states`); and one helper for each chore of a test: a child process
//! guard and a scratch directory (`guard`), golden files (`golden`), and
//! privileges, namespace sysctls and waiting on the kernel (`host`). Only
//! tests depend on this crate; it depends on nothing but the core.

pub mod golden;
pub mod guard;
pub mod host;
pub mod netns;
pub mod states;

pub use golden::golden;
pub use guard::{Kill, TempDir};
pub use host::{have_privileges, set_netns_sysctl, wait_until};
