//! One module per subcommand: each has an `Args` (clap) and a `run`.

pub mod batch;
pub mod bench;
pub mod compare;
pub mod eval;
pub mod features;
pub mod info;
pub mod listen;
pub mod merge;
pub mod predict;
pub mod serve;
pub mod train;
pub mod training;
pub mod worker;
