//! diesel table definitions of the invoicing database (see `migrations/`).

diesel::table! {
    invoice_series (id) {
        id -> Text,
        location_id -> Text,
        kind -> Text,
        year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    invoiced_settlements (settlement_id, version) {
        settlement_id -> Text,
        version -> Integer,
        event_id -> Text,
        invoices -> Integer,
        processed_at -> Timestamp,
    }
}

diesel::table! {
    invoices (id) {
        id -> Text,
        number -> Text,
        status -> Text,
        location_id -> Text,
        location_code -> Text,
        location_name -> Text,
        location_tax_id -> Nullable<Text>,
        location_time_zone -> Text,
        recipient_kind -> Text,
        recipient_id -> Text,
        payer_code -> Nullable<Text>,
        payer_kind -> Nullable<Text>,
        coverage_id -> Nullable<Text>,
        policy_number -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        episode_id -> Nullable<Text>,
        episode_number -> Nullable<Text>,
        settlement_id -> Nullable<Text>,
        settlement_number -> Nullable<Text>,
        settlement_version -> Nullable<Integer>,
        currency -> Text,
        total_minor -> BigInt,
        tax_total_minor -> BigInt,
        issue_date -> Date,
        due_date -> Date,
        created_at -> Timestamp,
        issued_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        credit_note_id -> Nullable<Text>,
        seller -> Nullable<Text>,
        buyer -> Nullable<Text>,
        payment_terms -> Nullable<Text>,
    }
}

diesel::table! {
    e_billing_settings (payer_code, version) {
        payer_code -> Text,
        version -> BigInt,
        data -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    claim_facts (kind, key) {
        kind -> Text,
        key -> Text,
        data -> Text,
        version -> BigInt,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    agency_commissions (approval_id) {
        approval_id -> Text,
        location_id -> Text,
        location -> Text,
        carer_id -> Text,
        carer -> Text,
        timesheet_id -> Text,
        placement_reference -> Text,
        line_id -> Text,
        period_start -> Date,
        period_end -> Date,
        performed_at -> Timestamp,
        hours -> Text,
        currency -> Text,
        hours_value_minor -> BigInt,
        commission_minor -> BigInt,
        invoice_date -> Date,
        created_at -> Timestamp,
        invoice_id -> Nullable<Text>,
    }
}

diesel::table! {
    agency_invoices (invoice_id) {
        invoice_id -> Text,
        purpose -> Text,
        approval_id -> Nullable<Text>,
        timesheet_id -> Nullable<Text>,
        carer_id -> Text,
        placement_reference -> Text,
        note -> Nullable<Text>,
        payee -> Nullable<Text>,
        series_prefix -> Nullable<Text>,
    }
}

diesel::table! {
    credit_notes (id) {
        id -> Text,
        number -> Text,
        invoice_id -> Text,
        invoice_number -> Text,
        location_id -> Text,
        location_code -> Text,
        recipient_kind -> Text,
        payer_code -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        settlement_id -> Nullable<Text>,
        currency -> Text,
        total_minor -> BigInt,
        tax_total_minor -> BigInt,
        reason -> Text,
        reissue -> Bool,
        issue_date -> Date,
        issued_by -> Text,
        created_at -> Timestamp,
        issued_at -> Timestamp,
        partial -> Bool,
    }
}

diesel::table! {
    document_lines (document_id, position) {
        document_id -> Text,
        position -> Integer,
        consumption_id -> Text,
        code -> Text,
        description -> Text,
        service_group -> Text,
        quantity -> Text,
        unit -> Text,
        performed_at -> Timestamp,
        currency -> Text,
        unit_price_minor -> BigInt,
        line_amount_minor -> BigInt,
        amount_minor -> BigInt,
        tax_category -> Text,
        tax_exemption_reason_code -> Text,
        tax_exemption_reason -> Text,
        tax_rate -> Text,
        explanation -> Nullable<Text>,
        service_kind -> Nullable<Text>,
        performed_by -> Nullable<Text>,
        claim -> Nullable<Text>,
    }
}

diesel::table! {
    billed_consumptions (invoice_id, consumption_id) {
        invoice_id -> Text,
        consumption_id -> Text,
        party_key -> Text,
        settlement_id -> Text,
        active -> Bool,
    }
}

diesel::table! {
    invoice_batches (id) {
        id -> Text,
        number -> Nullable<Text>,
        status -> Text,
        location_id -> Text,
        location_code -> Text,
        payer_code -> Nullable<Text>,
        recipient_kind -> Nullable<Text>,
        document_kind -> Nullable<Text>,
        currency -> Text,
        issued_from -> Nullable<Date>,
        issued_to -> Nullable<Date>,
        description -> Nullable<Text>,
        document_count -> Integer,
        invoiced_minor -> BigInt,
        credited_minor -> BigInt,
        created_by -> Text,
        created_at -> Timestamp,
        closed_by -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        sent_by -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invoice_batch_documents (document_id) {
        document_id -> Text,
        batch_id -> Text,
        document_kind -> Text,
        number -> Text,
        total_minor -> BigInt,
        added_at -> Timestamp,
        position -> BigInt,
    }
}

diesel::table! {
    invoice_corrections (invoice_id) {
        invoice_id -> Text,
        corrects_invoice_id -> Text,
        corrects_number -> Text,
        corrects_issue_date -> Date,
    }
}

diesel::table! {
    tax_rules (id) {
        id -> Text,
        country -> Text,
        catalog_code -> Nullable<Text>,
        service_group -> Nullable<Text>,
        category -> Text,
        rate -> Text,
        exemption_reason_code -> Nullable<Text>,
        exemption_reason -> Nullable<Text>,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        description -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    layouts (code) {
        code -> Text,
        location_code -> Text,
        recipient_kind -> Nullable<Text>,
        payer_code -> Nullable<Text>,
        document_type -> Nullable<Text>,
        version -> BigInt,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    layout_versions (code, version) {
        code -> Text,
        version -> BigInt,
        definition -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    delivery_settings (party_kind, party, version) {
        party_kind -> Text,
        party -> Text,
        version -> BigInt,
        channel -> Text,
        email -> Nullable<Text>,
        attach_ubl -> Bool,
        language -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sending_windows (location_code) {
        location_code -> Text,
        definition -> Text,
        version -> BigInt,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        document_kind -> Text,
        document_id -> Text,
        document_number -> Text,
        location_code -> Text,
        payer_code -> Nullable<Text>,
        channel -> Text,
        recipient -> Text,
        attach_ubl -> Bool,
        resend_of -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        not_before -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        message_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    delivery_attempts (delivery_id, attempt) {
        delivery_id -> Text,
        attempt -> Integer,
        at -> Timestamp,
        outcome -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    portal_links (id) {
        id -> Text,
        token_hash -> Text,
        document_kind -> Text,
        document_id -> Text,
        location_code -> Text,
        delivery_id -> Nullable<Text>,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        uses -> BigInt,
        last_used_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    e_billings (id) {
        id -> Text,
        number -> Text,
        location_id -> Text,
        location_code -> Text,
        payer_code -> Text,
        status -> Text,
        selection -> Text,
        currency -> Text,
        claim_count -> Integer,
        ready_count -> Integer,
        gap_count -> Integer,
        total_charge_minor -> BigInt,
        created_by -> Text,
        created_at -> Timestamp,
        checked_at -> Timestamp,
        cancelled_by -> Nullable<Text>,
        cancelled_at -> Nullable<Timestamp>,
        sent_by -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    e_billing_claims (id) {
        id -> Text,
        e_billing_id -> Text,
        position -> Integer,
        invoice_id -> Text,
        invoice_number -> Text,
        frequency -> Text,
        format -> Nullable<Text>,
        charge_minor -> BigInt,
        status -> Text,
        gaps -> Text,
        active -> Bool,
        payer_claim_number -> Nullable<Text>,
        updated_at -> Timestamp,
        credit_note_id -> Nullable<Text>,
        corrects_claim_id -> Nullable<Text>,
    }
}

diesel::table! {
    e_billing_files (e_billing_id, kind) {
        e_billing_id -> Text,
        kind -> Text,
        submitter_key -> Text,
        interchange_control_number -> BigInt,
        transactions -> Text,
        body -> Text,
        sha256 -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    x12_control_numbers (id) {
        id -> Text,
        last_interchange -> BigInt,
        last_group -> BigInt,
    }
}

diesel::table! {
    e_billing_responses (id) {
        id -> Text,
        kind -> Text,
        digest -> Text,
        sender_id -> Text,
        interchange_control_number -> Text,
        results -> Text,
        matched_count -> Integer,
        unmatched_count -> Integer,
        body -> Text,
        received_by -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    e_billing_claim_events (id) {
        id -> Text,
        claim_id -> Text,
        response_id -> Text,
        status -> Text,
        detail -> Text,
        at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    delivery_settings,
    sending_windows,
    deliveries,
    delivery_attempts,
    portal_links,
    layouts,
    layout_versions,
    tax_rules,
    invoice_corrections,
    invoices,
    agency_commissions,
    agency_invoices,
    credit_notes,
    document_lines,
    billed_consumptions,
    invoice_batches,
    invoice_batch_documents,
    e_billings,
    e_billing_claims,
    e_billing_files,
    x12_control_numbers,
    e_billing_responses,
    e_billing_claim_events
);

diesel::table! {
    claim_adjudications (id) {
        id -> Text,
        invoice_id -> Text,
        remittance_id -> Text,
        status_code -> Text,
        paid_on -> Date,
        claim -> Text,
        created_at -> Timestamp,
    }
}
