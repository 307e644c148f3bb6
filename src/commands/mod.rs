//! One module per subcommand: each has an `Args` (clap) and a `run`.

pub mod features;
pub mod info;
