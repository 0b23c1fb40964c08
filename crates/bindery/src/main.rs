//! `bindery`: a Dapr-compatible bindings sidecar. Flag parsing and wiring only.
#![forbid(unsafe_code)]

mod components;
mod flags;
mod run;
mod sidecar;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use flags::SidecarArgs;

// mimalloc instead of glibc malloc: 14.5 % fewer instructions per request but more idle memory
// (BENCHMARKS.md, "Allocator"), so opt-in.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "bindery",
    version,
    about = "A Dapr-compatible bindings sidecar.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    sidecar: SidecarArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the sidecar and an app together, like `dapr run`: `bindery run [flags] -- <app command>`.
    Run {
        #[command(flatten)]
        sidecar: Box<SidecarArgs>,
        /// The app's command line.
        #[arg(last = true, required = true)]
        app: Vec<String>,
    },
    /// Check component and resiliency files offline; exits non-zero on any error.
    Validate {
        /// Folders or files; defaults to ./components.
        paths: Vec<String>,
        /// Treat warnings (unknown keys, values daprd reads as something else) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// List the compiled-in binding types, or print an example or the reference.
    Components {
        #[command(subcommand)]
        action: Option<components::Action>,
    },
}

fn main() -> ExitCode {
    let (args, ignored) = flags::normalise_args(std::env::args());
    let cli = Cli::parse_from(args);
    match cli.command {
        None => sidecar::main(cli.sidecar, ignored),
        Some(Command::Run { sidecar, app }) => run::main(*sidecar, app),
        Some(Command::Validate { paths, strict }) => validate::main(paths, strict),
        Some(Command::Components { action }) => components::main(action),
    }
}
