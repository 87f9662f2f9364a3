//! diesel table definitions of the platform tables (see `migrations/`). Only types both
//! backends share: BigInt, Integer, Text, Timestamp.

diesel::table! {
    outbox (seq) {
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        published_at -> Nullable<Timestamp>,
        attempts -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    inbox (consumer, event_id) {
        consumer -> Text,
        event_id -> Text,
        event_type -> Text,
        processed_at -> Timestamp,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> Text,
        consumer -> Text,
        event_id -> Text,
        event_type -> Text,
        body -> Text,
        error -> Text,
        failed_at -> Timestamp,
        redriven_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        method -> Text,
        path -> Text,
        request_hash -> Text,
        status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        roles -> Text,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        changes -> Text,
        reason -> Nullable<Text>,
        request_id -> Nullable<Text>,
        location_id -> Nullable<Text>,
    }
}
