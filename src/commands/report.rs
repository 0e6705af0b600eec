//! `loadtest report compare|render`: saved reports only, no database.

use crate::error::{Error, Result, exit};
use crate::report;

/// `loadtest report compare|render`.
pub fn report(command: crate::cli::ReportCommand) -> Result<u8> {
    use crate::cli::{RenderFormat, ReportCommand};
    use crate::report::compare::{self, Verdict};
    match command {
        ReportCommand::Render { run, format } => {
            let r = report::load(&run)?;
            match format {
                RenderFormat::Md => print!("{}", report::markdown(&r)),
                RenderFormat::Html => print!("{}", report::html(&r)),
                RenderFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("report serialises")
                ),
            }
            Ok(exit::OK)
        }
        ReportCommand::Compare {
            base,
            new,
            threshold,
            force,
            format,
        } => {
            let (b, n) = (report::load(&base)?, report::load(&new)?);
            let differences = compare::incomparable(&b, &n);
            if !differences.is_empty() && !force {
                return Err(Error::Input(format!(
                    "{} and {} are not comparable: {} (pass --force to compare anyway)",
                    base.display(),
                    new.display(),
                    differences.join(", ")
                )));
            }
            let rows = compare::compare(&b, &n, threshold);
            match format {
                RenderFormat::Md => print!("{}", compare::markdown(&b, &n, &rows, threshold)),
                RenderFormat::Html => print!("{}", compare::html(&b, &n, &rows, threshold)),
                RenderFormat::Json => println!("{}", compare::json(&b, &n, &rows, threshold)),
            }
            Ok(if rows.iter().any(|r| r.verdict == Verdict::NewlyFailing) {
                exit::EXPECTATION_FAILED
            } else if rows.iter().any(|r| r.verdict == Verdict::Regression) {
                exit::REGRESSION
            } else {
                exit::OK
            })
        }
    }
}
