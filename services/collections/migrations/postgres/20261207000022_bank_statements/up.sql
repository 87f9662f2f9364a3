-- Bank statements (issue 19): camt.053 statements and camt.054 notifications imported, each
-- credit matched to receivables by the ISO 11649 creditor reference its invoice carries, by an
-- invoice number or reference in the free text, or by amount and a debtor account learnt
-- earlier; what matches is posted as a payment, the rest waits for a person.

-- The invoice's creditor reference (RF...), derived from its number; filled when the receivable
-- is created (and, for receivables older than this column, by the next import).
ALTER TABLE receivables ADD COLUMN payment_reference TEXT;
CREATE INDEX receivables_payment_reference ON receivables (payment_reference);
-- Posting a payment reads the payer's code from the party's newest receivable; with the id in
-- the index that is one step however many receivables the party has (a statement posts
-- thousands of payments of one insurer).
CREATE INDEX receivables_party_newest ON receivables (party_kind, party_id, id);

-- One imported statement or notification; the same (account, message, statement) is imported
-- once.
CREATE TABLE bank_statements (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    version TEXT NOT NULL,
    message_id TEXT NOT NULL,
    statement_id TEXT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    from_date DATE,
    to_date DATE,
    entry_count BIGINT NOT NULL,
    matched_count BIGINT NOT NULL,
    unmatched_count BIGINT NOT NULL,
    ignored_count BIGINT NOT NULL,
    duplicate_count BIGINT NOT NULL,
    matched_minor BIGINT NOT NULL,
    unmatched_minor BIGINT NOT NULL,
    ignored_minor BIGINT NOT NULL,
    duplicate_minor BIGINT NOT NULL,
    digest TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX bank_statements_identity ON bank_statements (account, message_id, statement_id);

-- One credit or debit of a statement (one per transaction of a batch booking), its status
-- (matched, unmatched, ignored, duplicate) and what it was posted as.
CREATE TABLE bank_statement_entries (
    id TEXT PRIMARY KEY,
    bank_statement_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    credit BOOLEAN NOT NULL,
    amount_minor BIGINT NOT NULL,
    booking_date DATE,
    value_date DATE,
    servicer_ref TEXT,
    bank_reference TEXT,
    debtor_name TEXT,
    debtor_iban TEXT,
    structured_refs TEXT NOT NULL,
    unstructured TEXT,
    status TEXT NOT NULL,
    matched_by TEXT,
    payment_id TEXT,
    party_kind TEXT,
    party_id TEXT,
    allocations TEXT NOT NULL,
    duplicate_of TEXT,
    posted_by TEXT,
    posted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX bank_statement_entries_statement ON bank_statement_entries (bank_statement_id, line_no);
CREATE INDEX bank_statement_entries_status ON bank_statement_entries (status, id);
-- An account servicer reference is posted once per account, whichever statement brings it.
CREATE UNIQUE INDEX bank_statement_entries_servicer_ref ON bank_statement_entries (account, servicer_ref)
    WHERE servicer_ref IS NOT NULL AND duplicate_of IS NULL;

-- Debtor accounts learnt from matched credits: who paid from which IBAN.
CREATE TABLE bank_debtor_accounts (
    debtor_iban TEXT NOT NULL,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    learnt_at TIMESTAMP NOT NULL,
    PRIMARY KEY (debtor_iban, party_kind, party_id)
);
