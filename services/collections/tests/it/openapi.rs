//! The collections part of the OpenAPI document.

#[test]
fn the_openapi_document_names_every_collections_operation() {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(carebill_collections::ApiDoc::openapi()).expect("json");
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|o| o.values()))
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![
            "adjust_receivable",
            "allocate_payment",
            "cancel_payment_plan",
            "create_payment",
            "create_payment_link",
            "create_payment_plan",
            "create_reminder_run",
            "dispatch_reminders",
            "evaluate_payment_plans",
            "get_aging",
            "get_balance",
            "get_bank_statement",
            "get_collection_batch",
            "get_dashboard",
            "get_dso",
            "get_party_history",
            "get_payers_report",
            "get_payment",
            "get_payment_link",
            "get_payment_plan",
            "get_pending_chart",
            "get_progress_chart",
            "get_receivable",
            "get_reminder_contact",
            "get_reminder_letter",
            "get_reminder_notice",
            "get_reminder_policy",
            "get_reminder_run",
            "get_remittance",
            "get_remittance_claim",
            "import_bank_statement",
            "import_remittance",
            "list_bank_statement_entries",
            "list_bank_statements",
            "list_collection_batches",
            "list_collections_audit_events",
            "list_payment_links",
            "list_payment_plans",
            "list_payments",
            "list_receivables",
            "list_reminder_notices",
            "list_reminder_policies",
            "list_remittance_claims",
            "list_remittances",
            "list_write_off_thresholds",
            "match_bank_statement_entry",
            "match_remittance_claim",
            "open_dispute",
            "put_reminder_contact",
            "put_reminder_policy",
            "receive_payment_webhook",
            "refund_payment",
            "resolve_dispute",
            "set_write_off_threshold",
            "write_off_receivable",
        ]
    );
    let detail = &doc["components"]["schemas"]["ReceivableDetail"];
    assert!(detail.to_string().contains("payments"), "{detail}");
    assert!(detail.to_string().contains("write_offs"), "{detail}");
    assert!(detail.to_string().contains("adjustments"), "{detail}");
    assert!(detail.to_string().contains("disputes"), "{detail}");
    let batch = &doc["components"]["schemas"]["CollectionBatch"];
    assert!(batch.to_string().contains("collection_status"), "{batch}");
}
