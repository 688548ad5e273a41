//! Real sockets in private network namespaces, for the test suite and (later)
//! the `lab` command.

pub mod netns;
pub mod states;
