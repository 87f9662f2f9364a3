//! Which claim an invoice's next claim is (issue 18, C6): the first claim of an invoice is an
//! original (CLM05-3 `1`); once a claim of it is on file with the payer (sent, and neither
//! rejected nor cancelled since), a credit note issued later asks the payer to correct it:
//!
//! - a **partial** credit note: a **replacement** (`7`) of the invoice, its lines less what was
//!   credited;
//! - a **full** credit note without reissue: a **void** (`8`) of the claim on file, its lines as
//!   that claim had them;
//! - a **full** credit note with reissue: the corrective invoice the settlement is invoiced
//!   with again, to the same payer, is claimed as the **replacement** ([`reissued`]); when the
//!   settlement is invoiced again to other payers only, the first payer's claim is voided.
//!
//! Either correction names the claim it corrects, whose payer claim control number is its
//! REF*F8, and the credit note that made it. A claim not yet sent covers whatever its invoice
//! says when its file is written, so nothing is corrected until a claim is on file; a void on
//! file ends the invoice's claims. Pure: the service reads the facts.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::claim::Frequency;
use crate::ids::CreditNoteId;

/// A credit note of the invoice, as the rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteFacts {
    /// The credit note.
    pub id: CreditNoteId,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Whether it credited all that was left (and cancelled the invoice).
    pub full: bool,
    /// Whether the settlement is to be invoiced again.
    pub reissue: bool,
}

/// A claim of the invoice, as the rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimFacts<Id> {
    /// The claim.
    pub id: Id,
    /// CLM05-3.
    pub frequency: Frequency,
    /// Whether it still holds its invoice (not rejected, its e-billing not cancelled).
    pub active: bool,
    /// When its file was taken; none while its e-billing is open.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Whether the settlement of a cancelled invoice was invoiced again after its full credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reinvoiced {
    /// Not yet (the corrective invoice may still come).
    NotYet,
    /// To the payer of the cancelled invoice (that invoice's claim is the replacement).
    ToThisPayer,
    /// To other payers only.
    OnlyToOthers,
}

/// What an invoice's next claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next<Id> {
    /// No claim now: one is open in an e-billing, or the claim on file says what the invoice
    /// says (or was voided).
    Nothing,
    /// The first claim of the invoice.
    Original,
    /// A correction of the claim on file.
    Correction {
        /// `7` or `8`.
        frequency: Frequency,
        /// The credit note that asks for it.
        credit_note: CreditNoteId,
        /// The claim it corrects (REF*F8 is that claim's payer claim number).
        corrects: Id,
    },
}

/// The claim on file of an invoice: the active claim sent last.
pub fn on_file<Id: Copy>(claims: &[ClaimFacts<Id>]) -> Option<ClaimFacts<Id>> {
    claims
        .iter()
        .filter(|c| c.active && c.sent_at.is_some())
        .max_by_key(|c| c.sent_at)
        .copied()
}

/// The next claim of an invoice (`cancelled` when a full credit note cancelled it) with these
/// credit notes and claims.
/// A corrective invoice with no claim of its own stands for the claim of the invoice it
/// corrects ([`inherited`]): it is claimed as that claim's replacement, and once cancelled
/// without a reissue it voids that claim.
pub fn next_claim<Id: Copy>(
    cancelled: bool,
    notes: &[NoteFacts],
    claims: &[ClaimFacts<Id>],
    reinvoiced: Reinvoiced,
    inherited: Option<(CreditNoteId, ClaimFacts<Id>)>,
) -> Next<Id> {
    if claims.iter().any(|c| c.active && c.sent_at.is_none()) {
        return Next::Nothing;
    }
    let Some(filed) = on_file(claims) else {
        return match (inherited, cancelled) {
            (None, true) => Next::Nothing,
            (None, false) => Next::Original,
            (Some((credit_note, filed)), false) => Next::Correction {
                frequency: Frequency::Replacement,
                credit_note,
                corrects: filed.id,
            },
            (Some((_, filed)), true) => void(notes, filed, reinvoiced),
        };
    };
    if filed.frequency == Frequency::Void {
        return Next::Nothing;
    }
    let Some(latest) = notes
        .iter()
        .filter(|n| Some(n.issued_at) > filed.sent_at)
        .max_by_key(|n| n.issued_at)
    else {
        return Next::Nothing;
    };
    if !cancelled {
        return Next::Correction {
            frequency: Frequency::Replacement,
            credit_note: latest.id,
            corrects: filed.id,
        };
    }
    void(notes, filed, reinvoiced)
}

/// The void of `filed` that the full credit note among `notes` asks for, unless it asked for a
/// reissue that replaces the claim instead.
fn void<Id: Copy>(notes: &[NoteFacts], filed: ClaimFacts<Id>, reinvoiced: Reinvoiced) -> Next<Id> {
    let Some(full) = notes.iter().find(|n| n.full) else {
        return Next::Nothing;
    };
    if full.reissue && reinvoiced != Reinvoiced::OnlyToOthers {
        return Next::Nothing;
    }
    Next::Correction {
        frequency: Frequency::Void,
        credit_note: full.id,
        corrects: filed.id,
    }
}

/// The claim on file a corrective invoice stands for, and the credit note that asked for it:
/// `chain` is the invoices it corrects, nearest first, each with its credit notes and claims.
/// The nearest's claim on file when it has one, else (it was cancelled with a reissue before it
/// was ever claimed) the one before's, and so on; each link's full credit note asked for a
/// reissue after that claim was sent. None when a link has no reissue, or the claim was voided
/// or rejected.
pub fn inherited<Id: Copy>(
    chain: &[(&[NoteFacts], &[ClaimFacts<Id>])],
) -> Option<(CreditNoteId, ClaimFacts<Id>)> {
    let nearest = chain.first()?.0.iter().find(|n| n.full && n.reissue)?;
    for (notes, claims) in chain {
        let full = notes.iter().find(|n| n.full && n.reissue)?;
        if let Some(filed) = on_file(claims) {
            return (filed.frequency != Frequency::Void && filed.sent_at < Some(full.issued_at))
                .then_some((nearest.id, filed));
        }
    }
    None
}

/// A line of an invoice as its claim charges it after credit notes: the service's `charge` less
/// the payer's amounts the notes credited (each `(amount, quantity)`), and its `quantity` less
/// the quantities credited by quantity (a note that credited an amount names the line's whole
/// quantity). None when nothing of the line is billed to the payer any more: the claim drops
/// it. So a claim's charge falls by exactly what the credit notes credited.
pub fn line_after_credits(
    charge: Decimal,
    billed: Decimal,
    quantity: Decimal,
    credits: &[(Decimal, Decimal)],
) -> Option<(Decimal, Decimal)> {
    if credits.is_empty() {
        return Some((charge, quantity));
    }
    let credited: Decimal = credits.iter().map(|(a, _)| *a).sum();
    let units: Decimal = credits
        .iter()
        .filter(|(_, q)| *q < quantity)
        .map(|(_, q)| *q)
        .sum();
    let (charge, quantity) = (charge - credited, quantity - units);
    (billed > credited && charge > Decimal::ZERO && quantity > Decimal::ZERO)
        .then_some((charge, quantity))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap()
    }

    fn note(hour: u32, full: bool, reissue: bool) -> NoteFacts {
        NoteFacts {
            id: CreditNoteId::new(),
            issued_at: at(hour),
            full,
            reissue,
        }
    }

    fn claim(id: u8, frequency: Frequency, active: bool, sent: Option<u32>) -> ClaimFacts<u8> {
        ClaimFacts {
            id,
            frequency,
            active,
            sent_at: sent.map(at),
        }
    }

    use Frequency::{Original, Replacement, Void};

    #[test]
    fn an_invoice_never_claimed_is_an_original_and_an_open_claim_holds_it() {
        assert_eq!(
            next_claim::<u8>(false, &[], &[], Reinvoiced::NotYet, None),
            Next::Original
        );
        let partial = note(9, false, false);
        assert_eq!(
            next_claim::<u8>(false, &[partial], &[], Reinvoiced::NotYet, None),
            Next::Original,
            "a credit before any claim is sent: the original claims what is left"
        );
        assert_eq!(
            next_claim(
                false,
                &[],
                &[claim(1, Original, true, None)],
                Reinvoiced::NotYet,
                None
            ),
            Next::Nothing
        );
        assert_eq!(
            next_claim(
                false,
                &[],
                &[claim(1, Original, false, Some(8))],
                Reinvoiced::NotYet,
                None
            ),
            Next::Original,
            "a rejected claim lets go of its invoice"
        );
        assert_eq!(
            next_claim::<u8>(true, &[note(9, true, false)], &[], Reinvoiced::NotYet, None),
            Next::Nothing,
            "a cancelled invoice never claimed is not claimed"
        );
    }

    #[test]
    fn a_credit_note_after_the_claim_was_sent_asks_for_a_replacement_or_a_void() {
        let sent = [claim(1, Original, true, Some(8))];
        let partial = note(9, false, false);
        let partial2 = note(10, false, false);
        assert_eq!(
            next_claim(
                false,
                &[note(7, false, false)],
                &sent,
                Reinvoiced::NotYet,
                None
            ),
            Next::Nothing,
            "credited before the claim was sent: the claim said it already"
        );
        assert_eq!(
            next_claim(false, &[partial2, partial], &sent, Reinvoiced::NotYet, None),
            Next::Correction {
                frequency: Replacement,
                credit_note: partial2.id,
                corrects: 1
            },
            "the latest credit note names the replacement"
        );
        let full = note(11, true, false);
        assert_eq!(
            next_claim(true, &[partial, full], &sent, Reinvoiced::NotYet, None),
            Next::Correction {
                frequency: Void,
                credit_note: full.id,
                corrects: 1
            }
        );
        let replaced = [
            claim(1, Original, true, Some(8)),
            claim(2, Replacement, true, Some(10)),
        ];
        assert_eq!(
            next_claim(true, &[partial, full], &replaced, Reinvoiced::NotYet, None),
            Next::Correction {
                frequency: Void,
                credit_note: full.id,
                corrects: 2
            },
            "a void names the last claim on file"
        );
        assert_eq!(
            next_claim(false, &[partial], &replaced, Reinvoiced::NotYet, None),
            Next::Nothing,
            "the replacement on file says what the invoice says"
        );
        let voided = [
            claim(1, Original, true, Some(8)),
            claim(3, Void, true, Some(12)),
        ];
        assert_eq!(
            next_claim(
                true,
                &[full, note(13, false, false)],
                &voided,
                Reinvoiced::NotYet,
                None
            ),
            Next::Nothing
        );
        let open = [
            claim(1, Original, true, Some(8)),
            claim(2, Replacement, true, None),
        ];
        assert_eq!(
            next_claim(false, &[partial2], &open, Reinvoiced::NotYet, None),
            Next::Nothing,
            "an open correction covers a later credit note when its file is written"
        );
    }

    #[test]
    fn a_reissue_waits_for_the_corrective_invoice_which_replaces_the_claim() {
        let sent = [claim(1, Original, true, Some(8))];
        let full = note(9, true, true);
        for (reinvoiced, next) in [
            (Reinvoiced::NotYet, Next::Nothing),
            (Reinvoiced::ToThisPayer, Next::Nothing),
            (
                Reinvoiced::OnlyToOthers,
                Next::Correction {
                    frequency: Void,
                    credit_note: full.id,
                    corrects: 1,
                },
            ),
        ] {
            assert_eq!(next_claim(true, &[full], &sent, reinvoiced, None), next);
        }
        let chain = |n: &[NoteFacts], c: &[ClaimFacts<u8>]| inherited(&[(n, c)]);
        assert_eq!(chain(&[full], &sent), Some((full.id, sent[0])));
        assert_eq!(
            next_claim(false, &[], &[], Reinvoiced::NotYet, chain(&[full], &sent)),
            Next::Correction {
                frequency: Replacement,
                credit_note: full.id,
                corrects: 1
            },
            "the corrective invoice replaces the claim"
        );
        assert_eq!(chain(&[note(9, true, false)], &sent), None, "no reissue");
        assert_eq!(chain(&[full], &[]), None, "nothing was on file");
        assert_eq!(
            chain(&[full], &[claim(1, Original, true, Some(10))]),
            None,
            "sent after the credit note: the payer never had the wrong claim"
        );
        assert_eq!(
            chain(&[full], &[claim(1, Original, false, Some(8))]),
            None,
            "rejected: nothing to replace"
        );
    }

    #[test]
    fn a_corrective_invoice_credited_before_it_was_claimed_passes_the_claim_on() {
        // A's claim 1 was sent; A was credited with a reissue; its corrective invoice B was
        // credited in turn before anyone claimed it.
        let a_claims = [claim(1, Original, true, Some(8))];
        let a_full = note(9, true, true);
        let b_full = note(11, true, false);
        let from_a = inherited(&[(&[a_full][..], &a_claims[..])]);
        assert_eq!(
            next_claim(true, &[b_full], &[], Reinvoiced::NotYet, from_a),
            Next::Correction {
                frequency: Void,
                credit_note: b_full.id,
                corrects: 1
            },
            "withdrawn: A's claim is voided"
        );
        let b_again = note(11, true, true);
        assert_eq!(
            next_claim(true, &[b_again], &[], Reinvoiced::NotYet, from_a),
            Next::Nothing,
            "invoiced again: the next corrective invoice replaces it"
        );
        // C corrects B, which corrects A: C replaces A's claim, naming B's credit note.
        let chain = [(&[b_again][..], &[][..]), (&[a_full][..], &a_claims[..])];
        assert_eq!(
            next_claim(false, &[], &[], Reinvoiced::NotYet, inherited(&chain)),
            Next::Correction {
                frequency: Replacement,
                credit_note: b_again.id,
                corrects: 1
            }
        );
        let withdrawn = [(&[b_full][..], &[][..]), (&[a_full][..], &a_claims[..])];
        assert_eq!(inherited(&withdrawn), None, "B was not reissued");
    }

    #[test]
    fn a_claim_line_falls_by_what_was_credited_and_goes_when_nothing_is_billed() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            line_after_credits(d("200"), d("160"), d("4"), &[]),
            Some((d("200"), d("4")))
        );
        assert_eq!(
            line_after_credits(d("200"), d("160"), d("4"), &[(d("40"), d("1"))]),
            Some((d("160"), d("3"))),
            "one unit of four credited"
        );
        assert_eq!(
            line_after_credits(d("200"), d("160"), d("4"), &[(d("25.50"), d("4"))]),
            Some((d("174.50"), d("4"))),
            "an amount credited keeps the units"
        );
        assert_eq!(
            line_after_credits(
                d("200"),
                d("160"),
                d("4"),
                &[(d("100"), d("4")), (d("60"), d("4"))]
            ),
            None,
            "all the payer was billed is credited"
        );
    }
}
