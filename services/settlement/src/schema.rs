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
    }
}
