//! diesel table definitions of the accounts database (see `migrations/`).

diesel::table! {
    locations (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        address -> Text,
        tax_id -> Nullable<Text>,
        time_zone -> Text,
        currency -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        billing -> Nullable<Text>,
        claims -> Nullable<Text>,
    }
}

diesel::table! {
    payers (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        kind -> Text,
        tax_id -> Nullable<Text>,
        payer_identifier -> Nullable<Text>,
        identifiers -> Text,
        address -> Text,
        contact -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        billing -> Nullable<Text>,
    }
}

diesel::table! {
    patients (id) {
        id -> Text,
        family_name -> Text,
        given_name -> Text,
        birth_date -> Nullable<Date>,
        sex -> Text,
        beneficiary_kind -> Text,
        flags -> Text,
        identifiers -> Text,
        address -> Text,
        contact -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    patient_identifiers (system, value) {
        system -> Text,
        value -> Text,
        patient_id -> Text,
    }
}

diesel::table! {
    coverages (id) {
        id -> Text,
        patient_id -> Text,
        payer_id -> Text,
        policy_number -> Text,
        plan_code -> Nullable<Text>,
        priority -> Integer,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        subscriber -> Nullable<Text>,
        group_number -> Nullable<Text>,
    }
}

diesel::table! {
    episodes (id) {
        id -> Text,
        number -> Text,
        patient_id -> Text,
        location_id -> Text,
        kind -> Text,
        status -> Text,
        attending_practitioner -> Nullable<Text>,
        opened_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    episode_status_changes (id) {
        id -> Text,
        episode_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        actor -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    catalog_items (id) {
        id -> Text,
        code -> Text,
        description -> Text,
        service_group -> Text,
        kind -> Text,
        unit -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        billing_code -> Nullable<Text>,
    }
}

diesel::table! {
    consumptions (id) {
        id -> Text,
        episode_id -> Text,
        patient_id -> Text,
        location_id -> Text,
        catalog_item_id -> Text,
        code -> Text,
        service_group -> Text,
        kind -> Text,
        quantity -> Text,
        unit -> Text,
        performed_at -> Timestamp,
        performed_by -> Nullable<Text>,
        ordering_practitioner -> Nullable<Text>,
        attending_practitioner -> Nullable<Text>,
        source_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        attributes -> Text,
        input_digest -> Text,
        status -> Text,
        void_reason -> Nullable<Text>,
        voided_by -> Nullable<Text>,
        voided_at -> Nullable<Timestamp>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        claim -> Nullable<Text>,
    }
}

diesel::table! {
    care_records (id) {
        id -> Text,
        patient_id -> Text,
        location_id -> Text,
        kind -> Text,
        version -> BigInt,
        cancelled -> Bool,
        details -> Text,
        start_date -> Date,
        end_date -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    care_record_versions (record_id, version) {
        record_id -> Text,
        version -> BigInt,
        details -> Text,
        cancelled -> Bool,
        reason -> Nullable<Text>,
        changed_by -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    carers (id) {
        id -> Text,
        location_id -> Text,
        location_code -> Text,
        code -> Text,
        name -> Text,
        address -> Text,
        email -> Nullable<Text>,
        billing -> Text,
        vat -> Text,
        agreements -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    placements (id) {
        id -> Text,
        reference -> Text,
        location_id -> Text,
        location_code -> Text,
        carer_id -> Text,
        client_patient_id -> Nullable<Text>,
        client_payer_id -> Nullable<Text>,
        bill_to_payer_id -> Nullable<Text>,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        period -> Text,
        currency -> Text,
        tariffs -> Text,
        commission -> Text,
        mediation_fee -> Nullable<Text>,
        approver -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    timesheets (id) {
        id -> Text,
        placement_id -> Text,
        carer_id -> Text,
        location_code -> Text,
        period_start -> Date,
        period_end -> Date,
        status -> Text,
        submitted_at -> Nullable<Timestamp>,
        approved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    timesheet_hours (id) {
        id -> Text,
        timesheet_id -> Text,
        placement_id -> Text,
        carer_id -> Text,
        work_date -> Date,
        start_minute -> Nullable<Integer>,
        end_minute -> Nullable<Integer>,
        minutes -> Integer,
        service_type -> Text,
        notes -> Nullable<Text>,
        status -> Text,
        dispute_reason -> Nullable<Text>,
        approval_id -> Nullable<Text>,
        source_system -> Nullable<Text>,
        external_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    timesheet_links (id) {
        id -> Text,
        timesheet_id -> Text,
        token_hash -> Text,
        sent_to -> Text,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    timesheet_approvals (id) {
        id -> Text,
        timesheet_id -> Text,
        carer_id -> Text,
        approved_by -> Text,
        approved_at -> Timestamp,
        status -> Text,
        held_reason -> Nullable<Text>,
        invoice_date -> Nullable<Date>,
        released_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    agency_notices (id) {
        id -> Text,
        kind -> Text,
        dedupe_key -> Text,
        location_code -> Text,
        placement_id -> Text,
        carer_id -> Text,
        timesheet_id -> Nullable<Text>,
        period_start -> Date,
        period_end -> Date,
        recipient -> Text,
        status -> Text,
        attempts -> Integer,
        not_before -> Timestamp,
        last_error -> Nullable<Text>,
        message_id -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(timesheets, timesheet_hours);

diesel::table! {
    practitioners (id) {
        id -> Text,
        code -> Text,
        kind -> Text,
        family_name -> Text,
        given_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        suffix -> Nullable<Text>,
        credentials -> Nullable<Text>,
        npi -> Nullable<Text>,
        taxonomy -> Nullable<Text>,
        specialty -> Nullable<Text>,
        active_from -> Nullable<Date>,
        active_to -> Nullable<Date>,
        identifiers -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    practitioner_identifiers (system, value) {
        system -> Text,
        value -> Text,
        practitioner_id -> Text,
    }
}

diesel::table! {
    episode_codings (episode_id, version) {
        episode_id -> Text,
        version -> BigInt,
        data -> Text,
        reason -> Nullable<Text>,
        changed_by -> Text,
        changed_at -> Timestamp,
    }
}
