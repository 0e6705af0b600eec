//! The `loadtest` binary: parse the command line, run, print at most one line of error, and
//! return a meaningful exit code (see `error::exit`).

use clap::Parser;
use loadtest::error::exit;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: tokio-postgres allocates several small buffers and a
/// response channel per call, and the client's CPU per call is what `vs_pgbench` holds against
/// pgbench (README "Against pgbench").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match loadtest::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // A bug must not dump a backtrace on the user: one line, and unwinding still runs every
    // Drop (the scratch cluster stops itself).
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("loadtest: internal error: {msg}{at} (please report it)");
    }));
    let command_line = loadtest::redacted_command_line(std::env::args());
    // The main thread runs on tokio's current-thread scheduler: no hand-off between it and a
    // worker thread, which cost about 6% of the client CPU per call (README "Against pgbench").
    // More client threads (`--threads`) are lanes of their own, started by each load
    // (`race::lanes`).
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ENVIRONMENT);
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let stop = loadtest::Stop::listen().map_err(|e| {
                loadtest::Error::Environment(format!("cannot listen for signals: {e}"))
            })?;
            loadtest::run(cli, command_line, stop).await
        })
    }));
    // Don't wait for tasks still parked on a dead connection.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("loadtest: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(_) => ExitCode::from(exit::ENVIRONMENT),
    }
}

/// clap's errors, reduced to one line (help and version still print in full).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                exit::USAGE
            } else {
                exit::OK
            },
        );
    }
    let text = e.render().to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid command line");
    let first = first.trim_start_matches("error: ");
    eprintln!("loadtest: {first} (see loadtest --help)");
    ExitCode::from(exit::USAGE)
}
