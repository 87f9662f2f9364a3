//! Letters: a payment reminder printed to be posted, from the notice a reminder run made.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use crate::RenderError;
use crate::labels::Language;
use crate::layout::FontChoice;

/// A letter to print.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Letter {
    /// Who writes (the location's name).
    pub sender: String,
    /// The recipient's name and postal address, a line each.
    pub recipient: Vec<String>,
    /// The letter's date.
    pub date: NaiveDate,
    /// Its subject.
    pub subject: String,
    /// Its text; blank lines separate paragraphs.
    pub body: String,
    /// The figures it is about: label and value, already written out.
    pub facts: Vec<(String, String)>,
}

/// The letter as a PDF/A-3b file, in `language`'s dates and labels.
pub fn letter_pdf(letter: &Letter, language: Language) -> Result<Vec<u8>, RenderError> {
    let paragraphs: Vec<String> = letter
        .body
        .split("\n\n")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let data = json!({
        "lang": language.code(),
        "font": FontChoice::default().family(),
        "primary": crate::Layout::default().primary_color.hex(),
        "labels": language.labels(),
        "sender": letter.sender,
        "recipient": letter.recipient,
        "date": language.date(letter.date),
        "subject": letter.subject,
        "paragraphs": paragraphs,
        "facts": letter.facts.iter().map(|(l, v)| json!({"label": l, "value": v})).collect::<Vec<_>>(),
    });
    crate::pdf::typeset_template(
        crate::pdf::LETTER,
        &data,
        &format!("letter-{}", letter.subject),
        letter.date,
        &[],
    )
}
