//! One small file per subcommand: resolve (done by `plan`) → call a capability → publish.
//! Nothing below this folder prints results to stdout or picks exit codes.

pub mod list;
pub mod migrate;
pub mod nightly;
pub mod prepare;
pub mod report;
pub mod run;
pub mod verify;

use crate::error::{Result, exit};
use crate::report::{self as files, Report};

/// Writes a run's files, prints its Markdown and where the files are; the exit code of its
/// verdict.
fn publish(mut report: Report, dir: &std::path::Path, stamp: &str) -> Result<u8> {
    let written = files::write(&mut report, dir, stamp)?;
    print!("{}", files::markdown(&report));
    println!(
        "\nreport: {}, {} and {}",
        written.json.display(),
        written.markdown.display(),
        written.html.display()
    );
    Ok(if report.verdict.passed() {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    })
}
