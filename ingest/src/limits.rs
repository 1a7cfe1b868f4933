//! Bounds on what requests may hold: body size, time to send a body, and bytes held in memory
//! until Kafka has them. Beyond the last the gateway answers `503` with `Retry-After` instead
//! of buffering without end, so a flood of large requests costs memory up to the bound only,
//! and small requests still find room.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::settings::GatewaySettings;

pub struct Limits {
    pub max_body_bytes: usize,
    /// How long a client may take to send a whole body.
    pub body_timeout: Duration,
    /// One permit per byte of request bodies held, from the first byte read until the
    /// request's writes are acknowledged.
    in_flight: Arc<Semaphore>,
}

/// Bytes a request holds under the in-flight bound; released when dropped.
pub struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    pub fn none() -> Self {
        Self(None)
    }

    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.num_permits())
    }
}

impl Limits {
    pub fn new(settings: &GatewaySettings) -> Self {
        Self {
            max_body_bytes: settings.max_body_bytes,
            body_timeout: Duration::from_millis(settings.body_timeout_ms),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight_bytes)),
        }
    }

    /// Adds `bytes` to what `held` holds, or returns `false` when the bound does not allow it.
    pub fn hold(&self, held: &mut Held, bytes: usize) -> bool {
        let Ok(bytes) = u32::try_from(bytes) else {
            return false;
        };
        if bytes == 0 {
            return true;
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_many_owned(bytes) else {
            return false;
        };
        match &mut held.0 {
            Some(existing) => existing.merge(permit),
            None => held.0 = Some(permit),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_held_up_to_the_bound_and_released_on_drop() {
        let settings = GatewaySettings {
            max_in_flight_bytes: 100,
            ..GatewaySettings::default()
        };
        let limits = Limits::new(&settings);
        let mut first = Held::none();
        assert!(limits.hold(&mut first, 60));
        assert!(limits.hold(&mut first, 30));
        assert_eq!(first.bytes(), 90);
        let mut second = Held::none();
        assert!(!limits.hold(&mut second, 20), "only 10 bytes are left");
        drop(first);
        assert!(limits.hold(&mut second, 20));
    }
}
