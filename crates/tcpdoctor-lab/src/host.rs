//! What the lab needs from the host (privileges, its namespaces'
//! sysctls, waiting for the kernel to reach a state) is the core's
//! namespace plumbing, shared with the tests.

pub use tcpdoctor_core::collect::netns::{have_privileges, set_netns_sysctl, wait_until};
