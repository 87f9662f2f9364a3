//! Writes the sample claim files into a directory, for the outside validator:
//! `cargo run -q -p carebill-x12 --example x12_samples -- DIR` (scripts/validators.sh does). One
//! `.837` per claim sample of tests/support/samples.rs, the payer's `.835`, the
//! clearinghouse's `.999` and the payer's `.277ca`/`.277` the tests read, and the `.276` status
//! requests for the claim samples.

// The samples are fixed, known-valid data shared with the tests: a failed parse there is a
// bug in the samples, and stopping at once is the right answer.
#[expect(
    clippy::unwrap_used,
    reason = "fixed sample data, shared with the tests"
)]
#[path = "../tests/support/samples.rs"]
mod samples;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: x12_samples DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (n, sample) in samples::all().into_iter().enumerate() {
        let control = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let file = match carebill_x12::claims::write_837(&samples::header(control), &sample.claims)
        {
            Ok(file) => file,
            Err(e) => {
                eprintln!("{}: {e}", sample.name);
                return ExitCode::FAILURE;
            }
        };
        let path = dir.join(format!("{}.837", sample.name));
        if let Err(e) = std::fs::write(&path, file.text) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let remittances = [
        (
            "remittance",
            samples::remittance_835(
                100,
                "CHK-100200",
                &samples::remittance_claims(),
                &[("WO", "PAYER-ICN-0", 2000)],
                None,
            ),
        ),
        (
            "remittance-empty",
            samples::remittance_835(101, "NON-1", &[], &[], None),
        ),
    ];
    let acknowledgements = [
        (
            "accepted",
            samples::acknowledgement_999(200, 1, &[("0001", "A", vec![])]),
        ),
        (
            "partly-rejected",
            samples::acknowledgement_999(
                201,
                1,
                &[
                    ("0001", "A", vec![]),
                    (
                        "0002",
                        "R",
                        vec![("NM1", "23", "2010", "9", "67", "7", "1234567890")],
                    ),
                ],
            ),
        ),
    ];
    let statuses = samples::claim_acknowledgement_277ca(
        300,
        &[
            ("INV-2026-000001", 15000, Some("PAYER-ICN-1"), "A2", "20"),
            ("INV-2026-000002", 15050, None, "A7", "562"),
        ],
    );
    let statuses_x212 = samples::claim_status_277(400, &samples::status_lines());
    let path = dir.join("claims.277");
    if let Err(e) = std::fs::write(&path, statuses_x212) {
        eprintln!("{}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    for samples::StatusRequestSample {
        name,
        claims,
        payer_claim_numbers,
    } in samples::status_requests()
    {
        let inquiries: Vec<_> = claims
            .iter()
            .zip(&payer_claim_numbers)
            .map(|(claim, icn)| carebill_x12::status_request::StatusInquiry {
                claim,
                trace: &claim.patient_control_number,
                payer_claim_number: *icn,
            })
            .collect();
        let file = match carebill_x12::status_request::write_276(&samples::header(500), &inquiries)
        {
            Ok(file) => file,
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let path = dir.join(format!("{name}.276"));
        if let Err(e) = std::fs::write(&path, file.text) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let path = dir.join("claims.277ca");
    if let Err(e) = std::fs::write(&path, statuses) {
        eprintln!("{}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in acknowledgements {
        let path = dir.join(format!("{name}.999"));
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    for (name, text) in remittances {
        let path = dir.join(format!("{name}.835"));
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
