//! Real sockets for tests: private network namespaces that vanish with
//! their thread (`netns`) and builders of sockets in every TCP state
//! (`states`). Only tests depend on this crate.

pub mod netns;
pub mod states;

pub use tcpdoctor_lab::{have_privileges, set_netns_sysctl, wait_until};
