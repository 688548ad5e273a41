//! tcpdoctor's lab: TCP state problems reproduced for real. Each scenario
//! runs a server and a client process (tcpdoctor itself, re-executed as a
//! hidden `lab role`) on loopback in a network namespace of its own,
//! checks what the kernel then holds, and diagnoses it with the same rules
//! as `tcpdoctor diagnose`.

mod host;
mod kept;
pub mod render;
pub mod roles;
pub mod run;
pub mod scenarios;

pub use host::{have_privileges, set_netns_sysctl, wait_until};
