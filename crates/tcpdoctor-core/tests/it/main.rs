//! tcpdoctor-core's integration tests: one test binary, a module per area.
//!
//!     cargo test -p tcpdoctor-core --test it              # all of them
//!     cargo test -p tcpdoctor-core --test it kernel_bpf:: # one area
//!
//! The `kernel_*` modules and `flat_memory` run against the real kernel
//! in private network namespaces: they need root, are
//! `#[ignore = "needs root"]`, and `./test.sh` runs them with
//! `--include-ignored` when it is root. Inside a private namespace a
//! fixed port collides with nothing, so those tests use fixed ports.
//! `capture_fixtures` is a tool that rewrites tests/fixtures, never part
//! of a run.

mod support;

mod capture_fixtures;
mod fixtures;
mod flat_memory;
mod kernel_bpf;
mod kernel_census;
mod kernel_close_wait;
mod kernel_diagnose;
mod kernel_owners;
mod layers;
mod offline_props;
mod rules_doc;
