//! diesel table definitions of the collections database (see `migrations/`).

diesel::table! {
    receivables (id) {
        id -> Text,
        invoice_id -> Text,
        invoice_number -> Text,
        location_id -> Text,
        location_code -> Text,
        location_time_zone -> Text,
        party_kind -> Text,
        party_id -> Text,
        payer_code -> Nullable<Text>,
        party -> Text,
        patient_id -> Text,
        currency -> Text,
        total_minor -> BigInt,
        paid_minor -> BigInt,
        due_date -> Date,
        issue_date -> Date,
        status -> Text,
        credit_note_id -> Nullable<Text>,
        credit_note_number -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        cancelled_at -> Nullable<Timestamp>,
        issued_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        credited_minor -> BigInt,
        written_off_minor -> BigInt,
        payment_reference -> Nullable<Text>,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        party_kind -> Text,
        party_id -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        allocated_minor -> BigInt,
        method -> Text,
        received_on -> Date,
        reference -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        updated_at -> Timestamp,
        refunded_minor -> BigInt,
        kind -> Text,
        episode_id -> Nullable<Text>,
    }
}

diesel::table! {
    allocations (id) {
        id -> Text,
        payment_id -> Text,
        receivable_id -> Text,
        amount_minor -> BigInt,
        allocated_by -> Text,
        allocated_at -> Timestamp,
        reversed_at -> Nullable<Timestamp>,
        reversed_by_credit_note_id -> Nullable<Text>,
    }
}

diesel::table! {
    early_credit_notes (invoice_id) {
        invoice_id -> Text,
        credit_note_id -> Text,
        credit_note_number -> Text,
        reason -> Text,
        received_at -> Timestamp,
        applied_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    partial_credit_notes (credit_note_id) {
        credit_note_id -> Text,
        invoice_id -> Text,
        credit_note_number -> Text,
        currency -> Text,
        credited_minor -> BigInt,
        remaining_minor -> BigInt,
        reason -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    batches (id) {
        id -> Text,
        number -> Text,
        location_id -> Text,
        location_code -> Text,
        payer_code -> Nullable<Text>,
        currency -> Text,
        invoiced_minor -> BigInt,
        credited_minor -> BigInt,
        document_count -> BigInt,
        invoice_count -> BigInt,
        credit_note_count -> BigInt,
        sent_by -> Text,
        sent_at -> Timestamp,
        received_at -> Timestamp,
    }
}

diesel::table! {
    batch_documents (document_id) {
        document_id -> Text,
        batch_id -> Text,
        kind -> Text,
        number -> Text,
        total_minor -> BigInt,
    }
}

diesel::table! {
    payment_tenders (payment_id, line_no) {
        payment_id -> Text,
        line_no -> BigInt,
        method -> Text,
        amount_minor -> BigInt,
        reference -> Nullable<Text>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        payment_id -> Text,
        amount_minor -> BigInt,
        method -> Text,
        reference -> Nullable<Text>,
        reason -> Text,
        refunded_on -> Date,
        issued_by -> Text,
        issued_at -> Timestamp,
    }
}

diesel::table! {
    write_offs (id) {
        id -> Text,
        receivable_id -> Text,
        kind -> Text,
        amount_minor -> BigInt,
        reason -> Text,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    write_off_thresholds (currency) {
        currency -> Text,
        max_minor -> BigInt,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    bank_statements (id) {
        id -> Text,
        kind -> Text,
        version -> Text,
        message_id -> Text,
        statement_id -> Text,
        account -> Text,
        currency -> Text,
        from_date -> Nullable<Date>,
        to_date -> Nullable<Date>,
        entry_count -> BigInt,
        matched_count -> BigInt,
        unmatched_count -> BigInt,
        ignored_count -> BigInt,
        duplicate_count -> BigInt,
        matched_minor -> BigInt,
        unmatched_minor -> BigInt,
        ignored_minor -> BigInt,
        duplicate_minor -> BigInt,
        digest -> Text,
        imported_by -> Text,
        imported_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    bank_statement_entries (id) {
        id -> Text,
        bank_statement_id -> Text,
        line_no -> BigInt,
        account -> Text,
        currency -> Text,
        credit -> Bool,
        amount_minor -> BigInt,
        booking_date -> Nullable<Date>,
        value_date -> Nullable<Date>,
        servicer_ref -> Nullable<Text>,
        bank_reference -> Nullable<Text>,
        debtor_name -> Nullable<Text>,
        debtor_iban -> Nullable<Text>,
        structured_refs -> Text,
        unstructured -> Nullable<Text>,
        status -> Text,
        matched_by -> Nullable<Text>,
        payment_id -> Nullable<Text>,
        party_kind -> Nullable<Text>,
        party_id -> Nullable<Text>,
        allocations -> Text,
        duplicate_of -> Nullable<Text>,
        posted_by -> Nullable<Text>,
        posted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    bank_debtor_accounts (debtor_iban, party_kind, party_id) {
        debtor_iban -> Text,
        party_kind -> Text,
        party_id -> Text,
        learnt_at -> Timestamp,
    }
}

diesel::joinable!(allocations -> payments (payment_id));
diesel::joinable!(batch_documents -> batches (batch_id));
diesel::joinable!(allocations -> receivables (receivable_id));
diesel::joinable!(refunds -> payments (payment_id));
diesel::joinable!(write_offs -> receivables (receivable_id));
diesel::allow_tables_to_appear_in_same_query!(
    receivables,
    payments,
    allocations,
    early_credit_notes,
    partial_credit_notes,
    batches,
    batch_documents,
    payment_tenders,
    refunds,
    write_offs,
    write_off_thresholds,
    bank_statements,
    bank_statement_entries,
    bank_debtor_accounts
);
