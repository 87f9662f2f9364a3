//! diesel table definitions of the settlement database (see `migrations/`).

diesel::table! {
    prices (id) {
        id -> Text,
        code -> Text,
        unit_price_minor -> BigInt,
        currency -> Text,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        location_code -> Nullable<Text>,
        payer_code -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        beneficiary_kind -> Nullable<Text>,
        object_type -> Nullable<Text>,
        care_level -> Nullable<Text>,
        components -> Text,
    }
}

diesel::table! {
    coverage_terms (id) {
        id -> Text,
        payer_code -> Text,
        plan_code -> Text,
        covered_percent -> Text,
        currency -> Text,
        copay_per_line_minor -> Nullable<BigInt>,
        copay_per_episode_minor -> Nullable<BigInt>,
        excluded_service_groups -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        cap_per_episode_minor -> Nullable<BigInt>,
        preauthorization_groups -> Text,
        deductible_per_year_minor -> Nullable<BigInt>,
        cap_per_year_minor -> Nullable<BigInt>,
        coordination -> Text,
        supplemental_parts -> Text,
    }
}

diesel::table! {
    settlements (id) {
        id -> Text,
        number -> Text,
        episode_id -> Text,
        kind -> Text,
        parent_id -> Nullable<Text>,
        status -> Text,
        version -> Integer,
        revision -> Integer,
        location_id -> Text,
        location_code -> Text,
        patient_id -> Text,
        episode -> Text,
        coverages -> Text,
        coverages_at -> Timestamp,
        currency -> Nullable<Text>,
        total_minor -> BigInt,
        line_count -> Integer,
        issue_count -> Integer,
        pending_voids -> Integer,
        approved_version -> Nullable<Integer>,
        invoiced_version -> Nullable<Integer>,
        assigned_to -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        billing_run_id -> Nullable<Text>,
        change_seq -> BigInt,
    }
}

diesel::table! {
    settlement_versions (settlement_id, version) {
        settlement_id -> Text,
        version -> Integer,
        cause -> Text,
        reason -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        currency -> Nullable<Text>,
        total_minor -> BigInt,
        line_count -> Integer,
        issue_count -> Integer,
    }
}

diesel::table! {
    settlement_lines (settlement_id, consumption_id, from_version) {
        settlement_id -> Text,
        consumption_id -> Text,
        from_version -> Integer,
        to_version -> Nullable<Integer>,
        data -> Text,
    }
}

diesel::table! {
    settlement_inputs (consumption_id) {
        consumption_id -> Text,
        settlement_id -> Text,
        performed_at -> Timestamp,
        payload -> Text,
        voided -> Bool,
        manual_unit_price_minor -> Nullable<BigInt>,
        manual_currency -> Nullable<Text>,
        excluded -> Bool,
        override_reason -> Nullable<Text>,
    }
}

diesel::table! {
    settlement_status_changes (id) {
        id -> Text,
        settlement_id -> Text,
        from_status -> Text,
        to_status -> Text,
        version -> Integer,
        reason -> Nullable<Text>,
        changed_by -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    settlement_observations (id) {
        id -> Text,
        settlement_id -> Text,
        version -> Integer,
        consumption_id -> Nullable<Text>,
        text -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        resolved_version -> Nullable<Integer>,
    }
}

diesel::table! {
    settlement_billing (invoice_id, consumption_id) {
        invoice_id -> Text,
        consumption_id -> Text,
        settlement_id -> Text,
        party_key -> Text,
        invoice_number -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        active -> Bool,
        credited_minor -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(settlement_inputs, settlement_billing);
diesel::allow_tables_to_appear_in_same_query!(settlement_inputs, settlements);

diesel::table! {
    invoice_contexts (code) {
        code -> Text,
        name -> Text,
        party -> Text,
        payer_code -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invoicing_rules (code, version) {
        rule_id -> Text,
        code -> Text,
        version -> Integer,
        current -> Bool,
        definition -> Text,
        source -> Text,
        invoice_context -> Text,
        service_group -> Nullable<Text>,
        active_from -> Date,
        inactive_from -> Nullable<Date>,
        reason -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invoicing_rule_activations (location_code, rule_code) {
        location_code -> Text,
        rule_code -> Text,
        enabled -> Bool,
        changed_by -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    care_records (id) {
        id -> Text,
        patient_id -> Text,
        location_id -> Text,
        location_code -> Text,
        kind -> Text,
        version -> BigInt,
        cancelled -> Bool,
        details -> Text,
        updated_at -> Timestamp,
        patient -> Nullable<Text>,
        location -> Nullable<Text>,
        coverages -> Text,
        coverages_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    billing_runs (id) {
        id -> Text,
        location_code -> Text,
        period -> Text,
        beneficiaries -> Integer,
        care_records -> Integer,
        line_count -> Integer,
        totals -> Text,
        problems -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    billing_run_lines (run_id, line_no) {
        run_id -> Text,
        line_no -> Integer,
        location_code -> Text,
        period -> Text,
        patient_id -> Text,
        rule_code -> Text,
        context -> Text,
        correction -> Bool,
        amount_minor -> BigInt,
        currency -> Text,
        line -> Text,
    }
}

diesel::joinable!(billing_run_lines -> billing_runs (run_id));
diesel::allow_tables_to_appear_in_same_query!(billing_runs, billing_run_lines);

diesel::table! {
    condition_sets (version) {
        version -> Integer,
        definition -> Text,
        reason -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    billers (subject) {
        subject -> Text,
        name -> Text,
        active -> Bool,
        locations -> Text,
        payers -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    assignment_policy (id) {
        id -> Integer,
        mode -> Text,
        last_assigned -> Nullable<Text>,
    }
}

diesel::table! {
    offers (code) {
        code -> Text,
        description -> Text,
        bundle_code -> Text,
        service_codes -> Text,
        units -> Text,
        valid_days -> Nullable<Integer>,
        active_from -> Date,
        inactive_from -> Nullable<Date>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    periodic_corrections (settlement_id, line_id) {
        settlement_id -> Text,
        line_id -> Text,
        unit_price_minor -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        excluded -> Bool,
        reason -> Text,
    }
}

diesel::table! {
    credited_invoices (invoice_id) {
        invoice_id -> Text,
        credit_note_id -> Text,
        settlement_id -> Text,
        credited_at -> Timestamp,
    }
}

diesel::table! {
    partial_credit_lines (credit_note_id, consumption_id) {
        credit_note_id -> Text,
        consumption_id -> Text,
        invoice_id -> Text,
        remaining_minor -> BigInt,
        currency -> Text,
    }
}

diesel::table! {
    cancelled_episodes (episode_id) {
        episode_id -> Text,
        reason -> Nullable<Text>,
        cancelled_at -> Timestamp,
    }
}

diesel::table! {
    patient_coverages (patient_id) {
        patient_id -> Text,
        coverages -> Text,
        coverages_at -> Timestamp,
    }
}

diesel::table! {
    party_billing (party) {
        party -> Text,
        billing -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    settlement_changes (settlement_id) {
        settlement_id -> Text,
        marks -> BigInt,
    }
}

diesel::table! {
    agency_pricings (approval_id) {
        approval_id -> Text,
        timesheet_id -> Text,
        location_code -> Text,
        carer_id -> Text,
        currency -> Text,
        total_minor -> BigInt,
        commission_minor -> BigInt,
        priced -> Text,
        conditions_version -> Nullable<Integer>,
        priced_at -> Timestamp,
    }
}
