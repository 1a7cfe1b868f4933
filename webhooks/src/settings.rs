//! Settings of the webhook sink, one typed struct read from the configuration file and the
//! environment.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// When each attempt of a delivery is made, in ms after the previous attempt failed (the
    /// first entry: after the event). One attempt per entry; after the last, the event goes
    /// to the dead-letter topic.
    pub retry_schedule_ms: Vec<u64>,
    /// Each retry delay is moved at random by up to this share of it, in percent, so that
    /// retries of many events to one endpoint do not arrive together.
    pub retry_jitter_percent: u32,
    /// Bound on connecting to an endpoint, in ms.
    pub connect_timeout_ms: u64,
    /// Bound on a whole attempt, response included, in ms.
    pub request_timeout_ms: u64,
    /// Requests in flight from one sink instance, over all endpoints.
    pub max_in_flight: usize,
    /// Requests in flight from one sink instance to one subscription's endpoint; a slow
    /// endpoint holds at most this many, whatever its backlog.
    pub max_in_flight_per_subscription: usize,
    /// A subscription whose every attempt failed for this long is disabled, in ms.
    pub disable_after_failing_ms: u64,
    /// How long a rotated-out secret keeps signing beside the new one, in ms.
    pub secret_rotation_overlap_ms: u64,
    /// Networks (CIDR) that deliveries may reach although they are loopback, private or
    /// otherwise internal. Empty in production: the sink refuses every internal address.
    pub allowed_networks: Vec<IpNet>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        const SECOND: u64 = 1_000;
        const MINUTE: u64 = 60 * SECOND;
        const HOUR: u64 = 60 * MINUTE;
        Self {
            retry_schedule_ms: vec![
                0,
                5 * SECOND,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ],
            retry_jitter_percent: 20,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 15_000,
            max_in_flight: 512,
            max_in_flight_per_subscription: 16,
            disable_after_failing_ms: 5 * 24 * HOUR,
            secret_rotation_overlap_ms: 24 * HOUR,
            allowed_networks: Vec::new(),
        }
    }
}

impl WebhookSettings {
    /// The first setting that cannot work, with what is wrong with it.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.retry_schedule_ms.is_empty() {
            return Some((
                "webhooks.retry_schedule_ms",
                "must hold at least one attempt",
            ));
        }
        if self.retry_jitter_percent >= 100 {
            return Some(("webhooks.retry_jitter_percent", "must be below 100"));
        }
        if self.connect_timeout_ms == 0 || self.request_timeout_ms == 0 {
            return Some(("webhooks.request_timeout_ms", "timeouts must be above 0"));
        }
        if self.max_in_flight == 0 || self.max_in_flight_per_subscription == 0 {
            return Some((
                "webhooks.max_in_flight",
                "in-flight caps must be at least 1",
            ));
        }
        None
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}
