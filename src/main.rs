//! `ser`: the command-line front end. Argument parsing and output formatting only;
//! the work lives in the library crates.

fn main() -> anyhow::Result<()> {
    Ok(())
}
