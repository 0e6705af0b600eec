//! `loadtest report compare|render`: saved reports only, no database.

use crate::error::{Error, Result, exit};
use crate::plan::{Format, ReportPlan};
use crate::report;

/// `loadtest report compare|render`.
pub fn report(command: ReportPlan) -> Result<u8> {
    use crate::report::compare::{self, Verdict};
    match command {
        ReportPlan::Render { run, format } => {
            let r = report::load(&run)?;
            match format {
                Format::Markdown => print!("{}", report::markdown(&r)),
                Format::Html => print!("{}", report::html(&r)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("report serialises")
                ),
            }
            Ok(exit::OK)
        }
        ReportPlan::Compare {
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
                Format::Markdown => print!("{}", compare::markdown(&b, &n, &rows, threshold)),
                Format::Html => print!("{}", compare::html(&b, &n, &rows, threshold)),
                Format::Json => println!("{}", compare::json(&b, &n, &rows, threshold)),
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
