//! The words a printed document uses, in each language a layout can be set to, and how that
//! language writes dates and amounts.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// A language of labels (ISO 639-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Spanish.
    Es,
    /// English.
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Dutch.
    Nl,
}

impl Language {
    /// Every language, in the order the reference lists them.
    pub const ALL: [Language; 5] = [
        Language::Es,
        Language::En,
        Language::De,
        Language::Fr,
        Language::Nl,
    ];

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::Es => "es",
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Nl => "nl",
        }
    }

    /// The language of an ISO 639-1 code (any case); none for one without labels.
    pub fn parse(code: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The labels in this language.
    pub fn labels(self) -> &'static Labels {
        match self {
            Language::Es => &ES,
            Language::En => &EN,
            Language::De => &DE,
            Language::Fr => &FR,
            Language::Nl => &NL,
        }
    }

    /// A date as this language writes it on a document.
    pub fn date(self, date: NaiveDate) -> String {
        let pattern = match self {
            Language::En => "%Y-%m-%d",
            Language::De => "%d.%m.%Y",
            Language::Nl => "%d-%m-%Y",
            Language::Es | Language::Fr => "%d/%m/%Y",
        };
        date.format(pattern).to_string()
    }

    /// A number with exactly `decimals` decimals (half away from zero), thousands grouped, as
    /// this language writes it: `1,234.50` in English, `1.234,50` in the others (French groups
    /// with a narrow no-break space).
    pub fn amount(self, value: Decimal, decimals: u32) -> String {
        let rounded =
            value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
        let text = format!("{:.*}", decimals as usize, rounded.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        self.written(
            rounded.is_sign_negative() && !rounded.is_zero(),
            whole,
            fraction,
        )
    }

    /// A quantity as given (no trailing zeros), in this language's separators.
    pub fn quantity(self, value: Decimal) -> String {
        let text = value.normalize().abs().to_string();
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        self.written(
            value.is_sign_negative() && !value.is_zero(),
            whole,
            fraction,
        )
    }

    fn written(self, negative: bool, whole: &str, fraction: &str) -> String {
        let (group, point) = match self {
            Language::En => (",", "."),
            Language::Fr => ("\u{202f}", ","),
            Language::Es | Language::De | Language::Nl => (".", ","),
        };
        let digits: Vec<char> = whole.chars().collect();
        let mut out = String::with_capacity(whole.len() + fraction.len() + 4);
        if negative {
            out.push('-');
        }
        for (i, d) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(group);
            }
            out.push(*d);
        }
        if !fraction.is_empty() {
            out.push_str(point);
            out.push_str(fraction);
        }
        out
    }
}

/// The words of a document.
#[derive(Debug, Serialize)]
pub struct Labels {
    pub invoice: &'static str,
    pub credit_note: &'static str,
    pub corrective_invoice: &'static str,
    /// Title of a self-billed invoice (made by the buyer, here an agency, on the seller's behalf).
    pub self_billed_invoice: &'static str,
    pub reminder: &'static str,
    pub number: &'static str,
    pub issue_date: &'static str,
    pub due_date: &'static str,
    pub bill_to: &'static str,
    pub patient_id: &'static str,
    pub policy_number: &'static str,
    pub episode: &'static str,
    pub practitioner: &'static str,
    pub service_period: &'static str,
    pub your_reference: &'static str,
    pub corrects: &'static str,
    pub reason: &'static str,
    pub date: &'static str,
    pub description: &'static str,
    pub quantity: &'static str,
    pub unit_price: &'static str,
    pub vat: &'static str,
    pub amount: &'static str,
    pub net_total: &'static str,
    pub vat_total: &'static str,
    pub total: &'static str,
    pub paid: &'static str,
    pub amount_due: &'static str,
    pub vat_breakdown: &'static str,
    pub taxable_amount: &'static str,
    pub rate: &'static str,
    pub exempt: &'static str,
    pub outside_scope: &'static str,
    pub payment_terms: &'static str,
    pub bank_details: &'static str,
    pub account_holder: &'static str,
    pub iban: &'static str,
    pub bic: &'static str,
    pub payment_reference: &'static str,
    pub scan_to_pay: &'static str,
    pub vat_id: &'static str,
    pub page: &'static str,
    pub of: &'static str,
    pub outstanding: &'static str,
    pub fee: &'static str,
    pub interest: &'static str,
}

static EN: Labels = Labels {
    invoice: "Invoice",
    credit_note: "Credit note",
    corrective_invoice: "Corrective invoice",
    self_billed_invoice: "Self-billed invoice",
    reminder: "Payment reminder",
    number: "Number",
    issue_date: "Issue date",
    due_date: "Due date",
    bill_to: "Bill to",
    patient_id: "Patient",
    policy_number: "Policy number",
    episode: "Episode",
    practitioner: "Practitioner",
    service_period: "Service period",
    your_reference: "Your reference",
    corrects: "Corrects invoice",
    reason: "Reason",
    date: "Date",
    description: "Description",
    quantity: "Qty",
    unit_price: "Unit price",
    vat: "VAT",
    amount: "Amount",
    net_total: "Total without VAT",
    vat_total: "VAT",
    total: "Total",
    paid: "Paid",
    amount_due: "Amount due",
    vat_breakdown: "VAT breakdown",
    taxable_amount: "Taxable amount",
    rate: "Rate",
    exempt: "Exempt",
    outside_scope: "Outside the scope of VAT",
    payment_terms: "Payment terms",
    bank_details: "Pay by bank transfer",
    account_holder: "Account holder",
    iban: "IBAN",
    bic: "BIC",
    payment_reference: "Payment reference",
    scan_to_pay: "Scan to pay",
    vat_id: "VAT ID",
    page: "Page",
    of: "of",
    outstanding: "Outstanding",
    fee: "Reminder fee",
    interest: "Interest",
};

static ES: Labels = Labels {
    invoice: "Factura",
    credit_note: "Factura rectificativa (abono)",
    corrective_invoice: "Factura rectificativa",
    self_billed_invoice: "Autofactura",
    reminder: "Recordatorio de pago",
    number: "Número",
    issue_date: "Fecha de emisión",
    due_date: "Vencimiento",
    bill_to: "Facturar a",
    patient_id: "Paciente",
    policy_number: "Número de póliza",
    episode: "Episodio",
    practitioner: "Profesional",
    service_period: "Periodo de servicio",
    your_reference: "Su referencia",
    corrects: "Rectifica la factura",
    reason: "Motivo",
    date: "Fecha",
    description: "Descripción",
    quantity: "Cant.",
    unit_price: "Precio unitario",
    vat: "IVA",
    amount: "Importe",
    net_total: "Base imponible",
    vat_total: "IVA",
    total: "Total",
    paid: "Pagado",
    amount_due: "Importe a pagar",
    vat_breakdown: "Desglose de IVA",
    taxable_amount: "Base",
    rate: "Tipo",
    exempt: "Exento",
    outside_scope: "No sujeto a IVA",
    payment_terms: "Condiciones de pago",
    bank_details: "Pago por transferencia",
    account_holder: "Titular",
    iban: "IBAN",
    bic: "BIC",
    payment_reference: "Referencia de pago",
    scan_to_pay: "Escanee para pagar",
    vat_id: "NIF",
    page: "Página",
    of: "de",
    outstanding: "Pendiente",
    fee: "Gastos de reclamación",
    interest: "Intereses",
};

static DE: Labels = Labels {
    invoice: "Rechnung",
    credit_note: "Gutschrift",
    corrective_invoice: "Rechnungskorrektur",
    self_billed_invoice: "Gutschrift (Selbstfakturierung)",
    reminder: "Zahlungserinnerung",
    number: "Nummer",
    issue_date: "Rechnungsdatum",
    due_date: "Fällig am",
    bill_to: "Rechnungsempfänger",
    patient_id: "Patient",
    policy_number: "Versichertennummer",
    episode: "Fall",
    practitioner: "Behandler",
    service_period: "Leistungszeitraum",
    your_reference: "Ihr Zeichen",
    corrects: "Korrigiert Rechnung",
    reason: "Grund",
    date: "Datum",
    description: "Leistung",
    quantity: "Menge",
    unit_price: "Einzelpreis",
    vat: "USt.",
    amount: "Betrag",
    net_total: "Summe netto",
    vat_total: "Umsatzsteuer",
    total: "Gesamtbetrag",
    paid: "Bezahlt",
    amount_due: "Zahlbetrag",
    vat_breakdown: "Umsatzsteuer nach Sätzen",
    taxable_amount: "Bemessungsgrundlage",
    rate: "Satz",
    exempt: "Steuerfrei",
    outside_scope: "Nicht steuerbar",
    payment_terms: "Zahlungsbedingungen",
    bank_details: "Zahlung per Überweisung",
    account_holder: "Kontoinhaber",
    iban: "IBAN",
    bic: "BIC",
    payment_reference: "Verwendungszweck",
    scan_to_pay: "Zum Bezahlen scannen",
    vat_id: "USt-IdNr.",
    page: "Seite",
    of: "von",
    outstanding: "Offen",
    fee: "Mahngebühr",
    interest: "Zinsen",
};

static FR: Labels = Labels {
    invoice: "Facture",
    credit_note: "Avoir",
    corrective_invoice: "Facture rectificative",
    self_billed_invoice: "Autofacturation",
    reminder: "Rappel de paiement",
    number: "Numéro",
    issue_date: "Date d'émission",
    due_date: "Échéance",
    bill_to: "Facturé à",
    patient_id: "Patient",
    policy_number: "Numéro de contrat",
    episode: "Séjour",
    practitioner: "Praticien",
    service_period: "Période de prestation",
    your_reference: "Votre référence",
    corrects: "Rectifie la facture",
    reason: "Motif",
    date: "Date",
    description: "Désignation",
    quantity: "Qté",
    unit_price: "Prix unitaire",
    vat: "TVA",
    amount: "Montant",
    net_total: "Total HT",
    vat_total: "TVA",
    total: "Total TTC",
    paid: "Payé",
    amount_due: "Net à payer",
    vat_breakdown: "Détail de la TVA",
    taxable_amount: "Base imposable",
    rate: "Taux",
    exempt: "Exonéré",
    outside_scope: "Hors champ de la TVA",
    payment_terms: "Conditions de paiement",
    bank_details: "Paiement par virement",
    account_holder: "Titulaire",
    iban: "IBAN",
    bic: "BIC",
    payment_reference: "Référence de paiement",
    scan_to_pay: "Scanner pour payer",
    vat_id: "N° TVA",
    page: "Page",
    of: "sur",
    outstanding: "Restant dû",
    fee: "Frais de relance",
    interest: "Intérêts",
};

static NL: Labels = Labels {
    invoice: "Factuur",
    credit_note: "Creditnota",
    corrective_invoice: "Correctiefactuur",
    self_billed_invoice: "Factuur (self-billing)",
    reminder: "Betalingsherinnering",
    number: "Nummer",
    issue_date: "Factuurdatum",
    due_date: "Vervaldatum",
    bill_to: "Factuur aan",
    patient_id: "Cliënt",
    policy_number: "Polisnummer",
    episode: "Zorgtraject",
    practitioner: "Zorgverlener",
    service_period: "Periode",
    your_reference: "Uw referentie",
    corrects: "Corrigeert factuur",
    reason: "Reden",
    date: "Datum",
    description: "Omschrijving",
    quantity: "Aantal",
    unit_price: "Prijs per eenheid",
    vat: "Btw",
    amount: "Bedrag",
    net_total: "Totaal excl. btw",
    vat_total: "Btw",
    total: "Totaal",
    paid: "Betaald",
    amount_due: "Te betalen",
    vat_breakdown: "Btw-specificatie",
    taxable_amount: "Grondslag",
    rate: "Tarief",
    exempt: "Vrijgesteld",
    outside_scope: "Buiten de btw",
    payment_terms: "Betalingsvoorwaarden",
    bank_details: "Betalen per overboeking",
    account_holder: "Rekeninghouder",
    iban: "IBAN",
    bic: "BIC",
    payment_reference: "Betalingskenmerk",
    scan_to_pay: "Scan om te betalen",
    vat_id: "Btw-nummer",
    page: "Pagina",
    of: "van",
    outstanding: "Openstaand",
    fee: "Aanmaningskosten",
    interest: "Rente",
};

#[cfg(test)]
mod tests {
    use super::Language;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn each_language_writes_amounts_its_own_way() {
        assert_eq!(Language::En.amount(d("1234567.5"), 2), "1,234,567.50");
        assert_eq!(Language::Es.amount(d("1234.5"), 2), "1.234,50");
        assert_eq!(Language::De.amount(d("-0.005"), 2), "-0,01");
        assert_eq!(Language::Fr.amount(d("1234"), 2), "1\u{202f}234,00");
        assert_eq!(Language::Nl.amount(d("12"), 0), "12");
        assert_eq!(Language::En.amount(d("-0.001"), 2), "0.00");
        assert_eq!(Language::Es.quantity(d("2.500")), "2,5");
    }

    #[test]
    fn each_language_writes_dates_its_own_way() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap_or_default();
        assert_eq!(Language::En.date(date), "2026-12-06");
        assert_eq!(Language::De.date(date), "06.12.2026");
        assert_eq!(Language::Es.date(date), "06/12/2026");
        assert_eq!(Language::Nl.date(date), "06-12-2026");
        assert_eq!(Language::parse("NL"), Some(Language::Nl));
        assert_eq!(Language::parse("pt"), None);
    }
}
