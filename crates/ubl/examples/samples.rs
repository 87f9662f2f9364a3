//! Writes the sample UBL documents into a directory, for the outside validators:
//! `cargo run -q -p carebill-ubl --example samples -- DIR [--random N [SEED]]`
//! (scripts/validators.sh does): the hand-written samples, and with `--random` also N
//! random documents from SEED (default 1).

// The samples are fixed, known-valid data shared with the tests: a failed parse there is a
// bug in the samples, and stopping at once is the right answer.
#[expect(
    clippy::unwrap_used,
    reason = "fixed sample data, shared with the tests"
)]
#[path = "../tests/support/samples.rs"]
mod samples;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carebill_domain::document::Document;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: samples DIR [--random N [SEED]]");
        ExitCode::from(2)
    };
    let (dir, random) = match args.as_slice() {
        [dir] => (PathBuf::from(dir), None),
        [dir, flag, n, rest @ ..] if flag == "--random" && rest.len() <= 1 => {
            let n = n.parse::<usize>();
            let seed = rest.first().map_or(Ok(1), |s| s.parse::<u64>());
            match (n, seed) {
                (Ok(n), Ok(seed)) => (PathBuf::from(dir), Some((n, seed))),
                _ => return usage(),
            }
        }
        _ => return usage(),
    };
    let mut documents = Vec::new();
    for sample in samples::all() {
        let note = format!("VAT {}, due {}", sample.expected_vat, sample.expected_due);
        documents.push((sample.file.to_owned(), sample.document, note));
    }
    if let Some((n, seed)) = random {
        let random = samples::random(n, seed).into_iter();
        documents.extend(random.map(|(file, doc)| (file, doc, format!("seed {seed}"))));
    }
    for (file, document, note) in &documents {
        let path = dir.join(file);
        if let Err(e) = write(&path, document) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{} ({note})", path.display());
    }
    ExitCode::SUCCESS
}

fn write(path: &Path, document: &Document) -> Result<(), String> {
    let xml = carebill_ubl::to_ubl(document).map_err(|e| e.to_string())?;
    std::fs::write(path, xml).map_err(|e| e.to_string())
}
