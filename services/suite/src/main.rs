//! `carebill`: see `carebill --help` and the README.

fn main() {
    if let Err(e) = carebill_suite::cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
