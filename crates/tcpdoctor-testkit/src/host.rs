//! What the tests need from the host (privileges, the sysctls of a
//! private namespace, waiting for the kernel to reach a state): the
//! core's namespace plumbing, which the lab uses too.

pub use tcpdoctor_core::collect::netns::{have_privileges, set_netns_sysctl, wait_until};
