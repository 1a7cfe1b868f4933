//! Every metric orderflow exports: `orderflow_<what>_<unit>`, counters ending in `_total`,
//! durations in seconds. Each names one happening, and the log line of that happening uses
//! the same words.

/// HTTP requests the gateway answered, by `route`, `method` and `status`.
pub const HTTP_REQUESTS: &str = "orderflow_http_requests_total";
/// Time to answer an HTTP request, by `route` and `method`.
pub const HTTP_REQUEST_DURATION: &str = "orderflow_http_request_duration_seconds";
/// Time from handing a record to the gateway's producer to Kafka's acknowledgement, by
/// `topic`.
pub const PRODUCE_DURATION: &str = "orderflow_produce_duration_seconds";
/// Records Kafka did not acknowledge, by `topic`.
pub const PRODUCE_ERRORS: &str = "orderflow_produce_errors_total";
/// Records between a consumer's position and the end of its partition, by `group`, `topic`
/// and `partition`.
pub const CONSUMER_LAG: &str = "orderflow_consumer_lag";
/// Input records a processor handled, by `processor` and `topic`.
pub const RECORDS_PROCESSED: &str = "orderflow_records_processed_total";
/// Transactions a processor ended, by `processor` and `result` (`committed`, `aborted`).
pub const TRANSACTIONS: &str = "orderflow_transactions_total";
/// Changelog records replayed into stores, by `processor`.
pub const RESTORE_RECORDS: &str = "orderflow_state_restore_records_total";
/// Changelog records still to replay, by `processor` and `partition`; 0 when restored.
pub const RESTORE_REMAINING: &str = "orderflow_state_restore_remaining_records";
/// Records sent to the dead-letter topic, by `processor` and source `topic`.
pub const DEAD_LETTERS: &str = "orderflow_dead_letters_total";
/// Webhook attempts, by `result` (`delivered`, `failed`, `gone`, `refused`).
pub const WEBHOOK_ATTEMPTS: &str = "orderflow_webhook_attempts_total";
/// Time one webhook attempt took, answer included.
pub const WEBHOOK_ATTEMPT_DURATION: &str = "orderflow_webhook_attempt_duration_seconds";
/// Time from an event to its delivery to a subscriber.
pub const WEBHOOK_DELIVERY_LATENCY: &str = "orderflow_webhook_delivery_latency_seconds";
/// Subscriptions orderflow disabled, by `reason` (`gone`, `failing`).
pub const WEBHOOK_SUBSCRIPTIONS_DISABLED: &str = "orderflow_webhook_subscriptions_disabled_total";

/// Every name above, for the reference page and for checks of dashboards.
pub const ALL: [&str; 14] = [
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    PRODUCE_DURATION,
    PRODUCE_ERRORS,
    CONSUMER_LAG,
    RECORDS_PROCESSED,
    TRANSACTIONS,
    RESTORE_RECORDS,
    RESTORE_REMAINING,
    DEAD_LETTERS,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_ATTEMPT_DURATION,
    WEBHOOK_DELIVERY_LATENCY,
    WEBHOOK_SUBSCRIPTIONS_DISABLED,
];
