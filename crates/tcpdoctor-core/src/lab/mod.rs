//! Real sockets in private network namespaces: the `lab` command's
//! scenarios (a server and a client process reproducing a problem) and the
//! socket builders the test suite uses.

pub mod netns;
pub mod roles;
pub mod run;
pub mod scenarios;
pub mod states;
