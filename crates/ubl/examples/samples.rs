//! Writes the sample UBL documents into a directory, for the outside validators:
//! `cargo run -q -p carebill-ubl --example samples -- DIR` (scripts/validators.sh does).

// The samples are fixed, known-valid data shared with the tests: a failed parse there is a
// bug in the samples, and stopping at once is the right answer.
#[expect(clippy::unwrap_used, reason = "fixed sample data, shared with the tests")]
#[path = "../tests/support/samples.rs"]
mod samples;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: samples DIR");
        return ExitCode::from(2);
    };
    for sample in samples::all() {
        let path = dir.join(sample.file);
        let written = carebill_ubl::to_ubl(&sample.document)
            .map_err(|e| e.to_string())
            .and_then(|xml| std::fs::write(&path, xml).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!(
            "{} (VAT {}, due {})",
            path.display(),
            sample.expected_vat,
            sample.expected_due
        );
    }
    ExitCode::SUCCESS
}
