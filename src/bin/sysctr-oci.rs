//! The built-in runtime as a standalone runc-compatible command.
use clap::Parser;

fn main() {
    std::process::exit(sysctr::runtime::command::main(sysctr::runtime::command::Args::parse()));
}
