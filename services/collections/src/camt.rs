//! The ISO 20022 bank-to-customer reader: a camt.053 statement (`BkToCstmrStmt/Stmt`) or a
//! camt.054 debit/credit notification (`BkToCstmrDbtCdtNtfctn/Ntfctn`), versions 001.02 to
//! 001.08, read into a [`Statement`]. Pure: bytes in, a checked value or a [`CamtError`] out.
//!
//! Elements are read by their local names, whatever prefix the file uses; the version is the
//! `Document` element's namespace (`urn:iso:std:iso:20022:tech:xsd:camt.053.001.08`). Only the
//! first statement or notification of a message is read: banks send one per account.
//!
//! What is checked (a refusal names what is wrong): well-formed UTF-8 XML; a camt.053 or
//! camt.054 namespace whose root child agrees with it; an account; at least one entry; each
//! entry's amount, currency and credit/debit indicator; one currency throughout (the account's
//! when given); the entries against `TxsSummry` (count and sum of all entries, of credits and of
//! debits, and the net) and against the opening and closing balances (`OPBD`/`PRCD` →
//! `CLBD`) where the file has them; the transactions of a batch booking against their entry.

use std::collections::HashMap;

use carebill_domain::{Currency, Money};
use chrono::NaiveDate;
use quick_xml::events::Event;
use rust_decimal::Decimal;

/// Most entries in one statement.
pub(crate) const MAX_ENTRIES: usize = 50_000;

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CamtKind {
    /// camt.053, the end-of-day account statement.
    Statement,
    /// camt.054, a debit/credit notification during the day.
    Notification,
}

impl CamtKind {
    /// `camt.053` or `camt.054`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CamtKind::Statement => "camt.053",
            CamtKind::Notification => "camt.054",
        }
    }
}

/// A statement or notification as read.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// camt.053 or camt.054.
    pub kind: CamtKind,
    /// The namespace's message version, e.g. `camt.053.001.08`.
    pub version: String,
    /// `GrpHdr/MsgId`.
    pub message_id: String,
    /// `Stmt/Id` or `Ntfctn/Id`.
    pub statement_id: String,
    /// The account: its IBAN, or its other id.
    pub account: String,
    /// The account's currency (every entry's).
    pub currency: Currency,
    /// `FrToDt`, or the first and last booking dates.
    pub from_date: Option<NaiveDate>,
    /// See `from_date`.
    pub to_date: Option<NaiveDate>,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

/// One entry (`Ntry`).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Its amount (positive).
    pub amount: Money,
    /// True for `CRDT` (money in).
    pub credit: bool,
    /// `BookgDt`.
    pub booking_date: Option<NaiveDate>,
    /// `ValDt`.
    pub value_date: Option<NaiveDate>,
    /// `NtryRef`.
    pub entry_ref: Option<String>,
    /// `AcctSvcrRef`: the bank's own reference of the entry, the same in a camt.054 and in the
    /// camt.053 that later reports it.
    pub servicer_ref: Option<String>,
    /// Its transactions (`NtryDtls/TxDtls`); at least one (an entry without details is one
    /// transaction of its whole amount).
    pub transactions: Vec<Transaction>,
}

/// One transaction of an entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Transaction {
    /// Its amount; the entry's when the entry has one transaction.
    pub amount: Option<Money>,
    /// `Refs/AcctSvcrRef`.
    pub servicer_ref: Option<String>,
    /// `Refs/EndToEndId` (not `NOTPROVIDED`).
    pub end_to_end_id: Option<String>,
    /// `RltdPties/Dbtr/(Pty/)Nm`.
    pub debtor_name: Option<String>,
    /// `RltdPties/DbtrAcct/Id/IBAN`.
    pub debtor_iban: Option<String>,
    /// `RmtInf/Strd/CdtrRefInf/Ref`, in order.
    pub structured_refs: Vec<String>,
    /// `RmtInf/Ustrd`, joined by spaces.
    pub unstructured: Option<String>,
}

/// Why a body is not a statement Carebill can import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CamtError {
    /// Not well-formed XML (or not UTF-8).
    #[error("not well-formed XML: {0}")]
    NotXml(String),
    /// XML, but not a camt.053 or camt.054 of a version read here.
    #[error("{0}")]
    NotCamt(String),
    /// A required element is missing or has a value that cannot be read.
    #[error("{0}")]
    Invalid(String),
    /// No entries.
    #[error("the statement has no entries")]
    NoEntries,
    /// Entries in another currency than the account's or the first entry's.
    #[error("{0}")]
    CurrencyMismatch(String),
    /// The entries do not add up to the summary or the balances.
    #[error("{0}")]
    DoesNotAddUp(String),
}

/// An element: local name, the attributes the reader needs, text and children.
#[derive(Debug, Default)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<El>,
}

impl El {
    fn child(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at `path` (local names separated by `/`).
    fn at(&self, path: &str) -> Option<&El> {
        path.split('/').try_fold(self, |el, name| el.child(name))
    }

    /// The trimmed text at `path`, when not empty.
    fn text_at(&self, path: &str) -> Option<String> {
        self.at(path)
            .map(|e| e.text.trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An element as it opens: its local name and attributes; the namespace declarations of the
/// root go to `namespaces`.
fn open(
    s: &quick_xml::events::BytesStart<'_>,
    is_root: bool,
    namespaces: &mut Vec<(String, String)>,
) -> Result<El, CamtError> {
    let mut el = El {
        name: s.local_name().as_ref().to_owned(),
        ..El::default()
    };
    for a in s.attributes() {
        let a = a.map_err(|e| CamtError::NotXml(e.to_string()))?;
        let key = a.key.0.to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| CamtError::NotXml(e.to_string()))?
            .into_owned();
        if key == "xmlns" || key.starts_with("xmlns:") {
            if is_root {
                namespaces.push((key, value));
            }
        } else {
            let local = key.rsplit(':').next().unwrap_or(&key).to_owned();
            el.attrs.push((local, value));
        }
    }
    Ok(el)
}

/// Closes the innermost open element: it becomes its parent's child, or the root.
fn close(stack: &mut Vec<El>, root: &mut Option<El>) {
    if let Some(el) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(el),
            None => *root = Some(el),
        }
    }
}

/// Reads the whole document into elements: the root, and the namespaces it declares.
fn tree(xml: &str) -> Result<(El, Vec<(String, String)>), CamtError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let bad = |e: &dyn std::fmt::Display| CamtError::NotXml(e.to_string());
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    let mut namespaces = Vec::new();
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(s) => {
                if root.is_some() {
                    return Err(bad(&"content after the root element"));
                }
                let el = open(&s, stack.is_empty(), &mut namespaces)?;
                stack.push(el);
            }
            Event::Empty(s) => {
                if root.is_some() {
                    return Err(bad(&"content after the root element"));
                }
                let el = open(&s, stack.is_empty(), &mut namespaces)?;
                stack.push(el);
                close(&mut stack, &mut root);
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                let text = t.xml10_content();
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&text);
                } else if !text.trim().is_empty() {
                    return Err(bad(&"text outside the root element"));
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                    Some(c) => c.to_string(),
                    None => match &*r {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => return Err(bad(&format!("unknown entity &{other};"))),
                    },
                };
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&c);
                }
            }
            Event::DocType(_) => return Err(bad(&"a DOCTYPE is not accepted")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad(&"the document ends inside an element"));
    }
    root.map(|r| (r, namespaces))
        .ok_or_else(|| bad(&"the body has no root element"))
}

/// The message, kind and version a namespace names (`camt.053.001.02` … `camt.053.001.08`,
/// the same for camt.054).
fn kind_of(namespace: &str) -> Option<(CamtKind, String)> {
    let version = namespace.strip_prefix("urn:iso:std:iso:20022:tech:xsd:")?;
    let (kind, minor) = if let Some(m) = version.strip_prefix("camt.053.001.") {
        (CamtKind::Statement, m)
    } else if let Some(m) = version.strip_prefix("camt.054.001.") {
        (CamtKind::Notification, m)
    } else {
        return None;
    };
    let n: u8 = minor.parse().ok()?;
    (minor.len() == 2 && (2..=8).contains(&n)).then(|| (kind, version.to_owned()))
}

fn date_of(el: Option<&El>, what: &str) -> Result<Option<NaiveDate>, CamtError> {
    let Some(el) = el else { return Ok(None) };
    let text = el
        .text_at("Dt")
        .or_else(|| el.text_at("DtTm"))
        .ok_or_else(|| CamtError::Invalid(format!("{what} has no Dt or DtTm")))?;
    let day = text.get(..10).unwrap_or(&text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| CamtError::Invalid(format!("{what} is not a date: {text}")))
}

/// An `Amt` element: a positive decimal with its `Ccy`.
fn amount_of(el: &El, what: &str) -> Result<Money, CamtError> {
    let ccy = el
        .attr("Ccy")
        .ok_or_else(|| CamtError::Invalid(format!("{what} has no currency (Ccy)")))?;
    let currency = Currency::parse(ccy)
        .map_err(|_| CamtError::Invalid(format!("{what} has an unknown currency {ccy}")))?;
    let text = el.text.trim();
    let amount: Decimal = text
        .parse()
        .map_err(|_| CamtError::Invalid(format!("{what} is not an amount: {text}")))?;
    if amount < Decimal::ZERO {
        return Err(CamtError::Invalid(format!("{what} is negative: {text}")));
    }
    Money::new(amount, currency)
        .map_err(|_| CamtError::Invalid(format!("{what} has more decimals than {ccy} has: {text}")))
}

fn credit_of(el: &El, what: &str) -> Result<bool, CamtError> {
    match el.text_at("CdtDbtInd").as_deref() {
        Some("CRDT") => Ok(true),
        Some("DBIT") => Ok(false),
        Some(other) => Err(CamtError::Invalid(format!(
            "{what} has CdtDbtInd {other}, not CRDT or DBIT"
        ))),
        None => Err(CamtError::Invalid(format!("{what} has no CdtDbtInd"))),
    }
}

fn minor(m: &Money) -> i64 {
    // Checked when read (`amount_of`).
    m.to_minor().map(|u| u.0).unwrap_or(0)
}

fn transaction(tx: &El, currency: Currency, what: &str) -> Result<Transaction, CamtError> {
    let amount = match tx.at("Amt").or_else(|| tx.at("AmtDtls/TxAmt/Amt")) {
        Some(a) => {
            let m = amount_of(a, &format!("{what}: Amt"))?;
            if m.currency() != currency {
                return Err(CamtError::CurrencyMismatch(format!(
                    "{what} is in {}, the statement in {currency}",
                    m.currency()
                )));
            }
            Some(m)
        }
        None => None,
    };
    let parties = tx.child("RltdPties");
    let debtor_name =
        parties.and_then(|p| p.text_at("Dbtr/Nm").or_else(|| p.text_at("Dbtr/Pty/Nm")));
    let debtor_iban = parties
        .and_then(|p| p.text_at("DbtrAcct/Id/IBAN"))
        .map(|i| {
            i.split_whitespace()
                .collect::<String>()
                .to_ascii_uppercase()
        });
    let mut structured_refs = Vec::new();
    let mut unstructured = Vec::new();
    if let Some(rmt) = tx.child("RmtInf") {
        for s in rmt.all("Strd") {
            for c in s.all("CdtrRefInf") {
                if let Some(r) = c.text_at("Ref") {
                    structured_refs.push(r);
                }
            }
        }
        for u in rmt.all("Ustrd") {
            let t = u.text.trim();
            if !t.is_empty() {
                unstructured.push(t.to_owned());
            }
        }
    }
    Ok(Transaction {
        amount,
        servicer_ref: tx.text_at("Refs/AcctSvcrRef"),
        end_to_end_id: tx.text_at("Refs/EndToEndId").filter(|e| e != "NOTPROVIDED"),
        debtor_name,
        debtor_iban,
        structured_refs,
        unstructured: (!unstructured.is_empty()).then(|| unstructured.join(" ")),
    })
}

fn entry(n: &El, i: usize, currency: Currency) -> Result<Entry, CamtError> {
    let what = format!("entry {}", i + 1);
    let amount_el = n
        .child("Amt")
        .ok_or_else(|| CamtError::Invalid(format!("{what} has no Amt")))?;
    let amount = amount_of(amount_el, &format!("{what}: Amt"))?;
    if amount.currency() != currency {
        return Err(CamtError::CurrencyMismatch(format!(
            "{what} is in {}, the statement in {currency}",
            amount.currency()
        )));
    }
    let credit = credit_of(n, &what)?;
    let mut transactions = Vec::new();
    for (j, tx) in n.all("NtryDtls").flat_map(|d| d.all("TxDtls")).enumerate() {
        transactions.push(transaction(
            tx,
            currency,
            &format!("{what}, transaction {}", j + 1),
        )?);
    }
    match transactions.len() {
        0 => transactions.push(Transaction {
            amount: Some(amount),
            ..Transaction::default()
        }),
        1 => transactions[0].amount = Some(amount),
        _ => {
            let mut sum = 0_i64;
            for (j, t) in transactions.iter().enumerate() {
                let a = t.amount.as_ref().ok_or_else(|| {
                    CamtError::Invalid(format!(
                        "{what} has {} transactions and transaction {} has no amount",
                        transactions.len(),
                        j + 1
                    ))
                })?;
                sum += minor(a);
            }
            if sum != minor(&amount) {
                return Err(CamtError::DoesNotAddUp(format!(
                    "{what}: its transactions add up to {}, the entry is {amount}",
                    Money::from_minor(carebill_domain::MinorUnits(sum), currency)
                )));
            }
        }
    }
    Ok(Entry {
        amount,
        credit,
        booking_date: date_of(n.child("BookgDt"), &format!("{what}: BookgDt"))?,
        value_date: date_of(n.child("ValDt"), &format!("{what}: ValDt"))?,
        entry_ref: n.text_at("NtryRef"),
        servicer_ref: n.text_at("AcctSvcrRef"),
        transactions,
    })
}

/// Checks a `TxsSummry` block (`TtlNtries`, `TtlCdtNtries`, `TtlDbtNtries`) against the entries.
fn check_summary(s: &El, entries: &[Entry], currency: Currency) -> Result<(), CamtError> {
    let money = |m: i64| Money::from_minor(carebill_domain::MinorUnits(m), currency);
    // Each block and the entries it counts: all (None), credits, debits.
    let groups = [
        ("TtlNtries", "entries", None),
        ("TtlCdtNtries", "credit entries", Some(true)),
        ("TtlDbtNtries", "debit entries", Some(false)),
    ];
    for (tag, what, credit) in groups {
        let Some(g) = s.child(tag) else { continue };
        let chosen: Vec<&Entry> = entries
            .iter()
            .filter(|e| credit.is_none_or(|c| e.credit == c))
            .collect();
        if let Some(n) = g.text_at("NbOfNtries") {
            let declared: usize = n.parse().map_err(|_| {
                CamtError::Invalid(format!("TxsSummry/{tag}/NbOfNtries is not a number: {n}"))
            })?;
            if declared != chosen.len() {
                return Err(CamtError::DoesNotAddUp(format!(
                    "TxsSummry/{tag} declares {declared} {what}, the statement has {}",
                    chosen.len()
                )));
            }
        }
        let total: i64 = chosen.iter().map(|e| minor(&e.amount)).sum();
        if let Some(sum) = g.text_at("Sum") {
            let declared: Decimal = sum.parse().map_err(|_| {
                CamtError::Invalid(format!("TxsSummry/{tag}/Sum is not an amount: {sum}"))
            })?;
            if declared != money(total).amount() {
                return Err(CamtError::DoesNotAddUp(format!(
                    "TxsSummry/{tag}/Sum is {declared}, its {what} add up to {}",
                    money(total).amount()
                )));
            }
        }
        if tag == "TtlNtries"
            && let Some(net) = g.child("TtlNetNtry")
        {
            let amt = net.text_at("Amt").ok_or_else(|| {
                CamtError::Invalid("TxsSummry/TtlNtries/TtlNetNtry has no Amt".into())
            })?;
            let declared: Decimal = amt.parse().map_err(|_| {
                CamtError::Invalid(format!(
                    "TxsSummry/TtlNtries/TtlNetNtry/Amt is not an amount: {amt}"
                ))
            })?;
            let signed = if credit_of(net, "TxsSummry/TtlNtries/TtlNetNtry")? {
                declared
            } else {
                -declared
            };
            let actual: i64 = entries
                .iter()
                .map(|e| {
                    if e.credit {
                        minor(&e.amount)
                    } else {
                        -minor(&e.amount)
                    }
                })
                .sum();
            if signed != money(actual).amount() {
                return Err(CamtError::DoesNotAddUp(format!(
                    "TxsSummry/TtlNtries/TtlNetNtry is {signed}, the entries net {}",
                    money(actual).amount()
                )));
            }
        }
    }
    Ok(())
}

/// Checks closing = opening + credits − debits where both balances are given.
fn check_balances(stmt: &El, entries: &[Entry], currency: Currency) -> Result<(), CamtError> {
    let mut by_code: HashMap<String, i64> = HashMap::new();
    for b in stmt.all("Bal") {
        let Some(code) = b.text_at("Tp/CdOrPrtry/Cd") else {
            continue;
        };
        let amt = b
            .child("Amt")
            .ok_or_else(|| CamtError::Invalid(format!("balance {code} has no Amt")))?;
        let m = amount_of(amt, &format!("balance {code}"))?;
        if m.currency() != currency {
            return Err(CamtError::CurrencyMismatch(format!(
                "balance {code} is in {}, the statement in {currency}",
                m.currency()
            )));
        }
        let signed = if credit_of(b, &format!("balance {code}"))? {
            minor(&m)
        } else {
            -minor(&m)
        };
        by_code.entry(code).or_insert(signed);
    }
    let opening = by_code.get("OPBD").or_else(|| by_code.get("PRCD"));
    let (Some(opening), Some(closing)) = (opening, by_code.get("CLBD")) else {
        return Ok(());
    };
    let net: i64 = entries
        .iter()
        .map(|e| {
            if e.credit {
                minor(&e.amount)
            } else {
                -minor(&e.amount)
            }
        })
        .sum();
    if opening + net != *closing {
        let money = |m: i64| Money::from_minor(carebill_domain::MinorUnits(m), currency);
        return Err(CamtError::DoesNotAddUp(format!(
            "the opening balance {} and the entries (net {}) make {}, the closing balance is {}",
            money(*opening).amount(),
            money(net).amount(),
            money(opening + net).amount(),
            money(*closing).amount()
        )));
    }
    Ok(())
}

/// Reads a camt.053 or camt.054 body (see the module for what is checked).
pub(crate) fn read(body: &[u8]) -> Result<Statement, CamtError> {
    let xml = std::str::from_utf8(body)
        .map_err(|_| CamtError::NotXml("the body is not UTF-8".to_owned()))?;
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let (root, namespaces) = tree(xml)?;
    if root.name != "Document" {
        return Err(CamtError::NotCamt(format!(
            "the root element is {}, not an ISO 20022 Document",
            root.name
        )));
    }
    let (kind, version) = namespaces
        .iter()
        .find_map(|(_, ns)| kind_of(ns))
        .ok_or_else(|| {
            CamtError::NotCamt(format!(
                "the Document's namespace is not camt.053.001.02..08 or camt.054.001.02..08 ({})",
                namespaces
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let (message_tag, statement_tag) = match kind {
        CamtKind::Statement => ("BkToCstmrStmt", "Stmt"),
        CamtKind::Notification => ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
    };
    let message = root
        .child(message_tag)
        .ok_or_else(|| CamtError::NotCamt(format!("a {version} Document holds {message_tag}")))?;
    let message_id = message
        .text_at("GrpHdr/MsgId")
        .ok_or_else(|| CamtError::Invalid("GrpHdr/MsgId is missing".to_owned()))?;
    let stmt = message
        .child(statement_tag)
        .ok_or_else(|| CamtError::Invalid(format!("{message_tag} has no {statement_tag}")))?;
    let statement_id = stmt
        .text_at("Id")
        .ok_or_else(|| CamtError::Invalid(format!("{statement_tag}/Id is missing")))?;
    let account = stmt
        .text_at("Acct/Id/IBAN")
        .map(|i| {
            i.split_whitespace()
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .or_else(|| stmt.text_at("Acct/Id/Othr/Id"))
        .ok_or_else(|| {
            CamtError::Invalid(format!("{statement_tag}/Acct/Id has no IBAN or Othr/Id"))
        })?;
    let ntries: Vec<&El> = stmt.all("Ntry").collect();
    if ntries.is_empty() {
        return Err(CamtError::NoEntries);
    }
    if ntries.len() > MAX_ENTRIES {
        return Err(CamtError::Invalid(format!(
            "the statement has {} entries; at most {MAX_ENTRIES} are read at once",
            ntries.len()
        )));
    }
    let currency = match stmt.text_at("Acct/Ccy") {
        Some(c) => Currency::parse(&c)
            .map_err(|_| CamtError::Invalid(format!("Acct/Ccy is not a currency: {c}")))?,
        None => {
            let first = ntries[0]
                .child("Amt")
                .ok_or_else(|| CamtError::Invalid("entry 1 has no Amt".to_owned()))?;
            amount_of(first, "entry 1: Amt")?.currency()
        }
    };
    let entries = ntries
        .iter()
        .enumerate()
        .map(|(i, n)| entry(n, i, currency))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(s) = stmt.child("TxsSummry") {
        check_summary(s, &entries, currency)?;
    }
    check_balances(stmt, &entries, currency)?;
    let booked: Vec<NaiveDate> = entries
        .iter()
        .filter_map(|e| e.booking_date.or(e.value_date))
        .collect();
    let from_date = stmt
        .text_at("FrToDt/FrDtTm")
        .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
        .or_else(|| booked.iter().min().copied());
    let to_date = stmt
        .text_at("FrToDt/ToDtTm")
        .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
        .or_else(|| booked.iter().max().copied());
    Ok(Statement {
        kind,
        version,
        message_id,
        statement_id,
        account,
        currency,
        from_date,
        to_date,
        entries,
    })
}
