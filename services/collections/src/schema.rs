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
        patient_id -> Nullable<Text>,
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
        adjusted_minor -> BigInt,
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
    reminder_contacts (party_kind, party_id) {
        party_kind -> Text,
        party_id -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        language -> Nullable<Text>,
        opted_out -> Bool,
        updated_by -> Text,
        updated_at -> Timestamp,
        postal_address -> Nullable<Text>,
    }
}

diesel::table! {
    reminder_policies (code) {
        code -> Text,
        party_kind -> Text,
        location_code -> Text,
        version -> BigInt,
        body -> Text,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    reminder_runs (id) {
        id -> Text,
        as_of -> Date,
        location_code -> Nullable<Text>,
        considered -> BigInt,
        queued -> BigInt,
        skipped -> Text,
        started_by -> Text,
        started_at -> Timestamp,
    }
}

diesel::table! {
    reminder_notices (id) {
        id -> Text,
        run_id -> Text,
        receivable_id -> Text,
        invoice_id -> Text,
        invoice_number -> Text,
        location_code -> Text,
        location_time_zone -> Text,
        payer_code -> Nullable<Text>,
        party_kind -> Text,
        party_id -> Text,
        policy_code -> Text,
        policy_version -> BigInt,
        level -> BigInt,
        level_name -> Text,
        channel -> Text,
        recipient -> Text,
        language -> Text,
        subject -> Nullable<Text>,
        body -> Text,
        currency -> Text,
        outstanding_minor -> BigInt,
        fee_minor -> BigInt,
        interest_minor -> BigInt,
        status -> Text,
        attempts -> BigInt,
        not_before -> Timestamp,
        last_error -> Nullable<Text>,
        provider_id -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payment_links (id) {
        id -> Text,
        provider -> Text,
        session_id -> Text,
        url -> Text,
        currency -> Text,
        amount_minor -> BigInt,
        receivable_id -> Nullable<Text>,
        invoice_id -> Nullable<Text>,
        invoice_number -> Nullable<Text>,
        party_kind -> Text,
        party_id -> Text,
        location_code -> Nullable<Text>,
        payer_code -> Nullable<Text>,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        paid_minor -> Nullable<BigInt>,
        payment_id -> Nullable<Text>,
        provider_reference -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payment_webhook_events (provider, event_id) {
        provider -> Text,
        event_id -> Text,
        event_type -> Text,
        session_id -> Nullable<Text>,
        link_id -> Nullable<Text>,
        outcome -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    receivable_adjustments (id) {
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
    receivable_disputes (id) {
        id -> Text,
        receivable_id -> Text,
        reason -> Text,
        opened_at -> Timestamp,
        opened_by -> Text,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Text>,
        resolution -> Nullable<Text>,
    }
}

diesel::table! {
    payment_plans (id) {
        id -> Text,
        party_kind -> Text,
        party_id -> Text,
        payer_code -> Nullable<Text>,
        currency -> Text,
        total_minor -> BigInt,
        missed_allowed -> BigInt,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        ended_as_of -> Nullable<Date>,
        cancel_reason -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payment_plan_installments (plan_id, seq) {
        plan_id -> Text,
        seq -> BigInt,
        due_on -> Date,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    payment_plan_receivables (plan_id, receivable_id) {
        plan_id -> Text,
        receivable_id -> Text,
        owed_at_start_minor -> BigInt,
        paid_at_start_minor -> BigInt,
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
diesel::joinable!(receivable_adjustments -> receivables (receivable_id));
diesel::joinable!(receivable_disputes -> receivables (receivable_id));
diesel::joinable!(payment_plan_installments -> payment_plans (plan_id));
diesel::joinable!(payment_plan_receivables -> payment_plans (plan_id));
diesel::joinable!(payment_plan_receivables -> receivables (receivable_id));
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
    reminder_contacts,
    reminder_policies,
    reminder_runs,
    reminder_notices,
    payment_links,
    payment_webhook_events,
    receivable_adjustments,
    receivable_disputes,
    payment_plans,
    payment_plan_installments,
    payment_plan_receivables,
    bank_statements,
    bank_statement_entries,
    bank_debtor_accounts
);

diesel::table! {
    dashboard_settlements (settlement_id) {
        settlement_id -> Text,
        number -> Text,
        location_code -> Text,
        payer_code -> Nullable<Text>,
        status -> Text,
        currency -> Nullable<Text>,
        total_minor -> BigInt,
        assigned_to -> Nullable<Text>,
        status_since -> Timestamp,
        sequence -> BigInt,
    }
}

diesel::table! {
    dashboard_months (location_code, payer_code, currency, month) {
        location_code -> Text,
        payer_code -> Text,
        currency -> Text,
        month -> Date,
        invoices -> BigInt,
        billed_minor -> BigInt,
        adjusted_minor -> BigInt,
        credited_minor -> BigInt,
        collected_minor -> BigInt,
        written_off_minor -> BigInt,
    }
}

diesel::table! {
    dashboard_locations (code) {
        code -> Text,
        name -> Text,
    }
}

diesel::table! {
    dashboard_due (location_code, payer_code, currency, due_date) {
        location_code -> Text,
        payer_code -> Text,
        currency -> Text,
        due_date -> Date,
        owed_minor -> BigInt,
    }
}

diesel::table! {
    claim_references (claim_id) {
        claim_id -> Text,
        patient_control_number -> Text,
        invoice_id -> Text,
        e_billing_id -> Text,
        payer_code -> Text,
        payer_id -> Text,
        frequency -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    remittances (id) {
        id -> Text,
        payer_id -> Text,
        trace_number -> Text,
        payer_code -> Nullable<Text>,
        payer_name -> Text,
        handling -> Text,
        method -> Text,
        paid_on -> Date,
        currency -> Text,
        total_minor -> BigInt,
        claim_count -> BigInt,
        posted_count -> BigInt,
        review_count -> BigInt,
        denied_count -> BigInt,
        unmatched_count -> BigInt,
        posted_minor -> BigInt,
        unmatched_minor -> BigInt,
        provider_adjustments -> Text,
        interchange_control_number -> Text,
        transaction_control_number -> Text,
        digest -> Text,
        imported_by -> Text,
        imported_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    remittance_claims (id) {
        id -> Text,
        remittance_id -> Text,
        position -> BigInt,
        patient_control_number -> Text,
        payer_claim_number -> Text,
        status_code -> Text,
        status -> Text,
        currency -> Text,
        charge_minor -> BigInt,
        paid_minor -> BigInt,
        patient_responsibility_minor -> BigInt,
        patient_share_minor -> BigInt,
        unallocated_minor -> BigInt,
        left_owing_minor -> BigInt,
        invoice_id -> Nullable<Text>,
        invoice_number -> Nullable<Text>,
        receivable_id -> Nullable<Text>,
        location_code -> Nullable<Text>,
        claim_id -> Nullable<Text>,
        payment_id -> Nullable<Text>,
        note -> Text,
        detail -> Text,
        posted_by -> Nullable<Text>,
        posted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}
