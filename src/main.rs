//! The `nightshift` binary: parse arguments, start telemetry, run the command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use nightshift::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(err) = nightshift::telemetry::logs::init() {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    match nightshift::commands::run_cli(cli).await {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error worth a message.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            nightshift::commands::exit_code(&err)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
