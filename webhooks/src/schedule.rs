//! When the next attempt of a failed delivery is due.

use rand::RngExt;

use crate::settings::WebhookSettings;

#[derive(Debug, Clone)]
pub struct RetrySchedule {
    /// Delay before each attempt, in ms; `delays_ms[0]` is the first attempt's.
    delays_ms: Vec<u64>,
    jitter_percent: u32,
}

impl RetrySchedule {
    pub fn new(settings: &WebhookSettings) -> Self {
        Self {
            delays_ms: settings.retry_schedule_ms.clone(),
            jitter_percent: settings.retry_jitter_percent,
        }
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> i32 {
        i32::try_from(self.delays_ms.len()).unwrap_or(i32::MAX)
    }

    /// When attempt `failed + 1` is due after attempt `failed` failed at `now_ms`, or `None`
    /// when `failed` was the last. The delay is jittered; an endpoint's `Retry-After` is a
    /// floor, never shortened by jitter.
    pub fn next_due_ms(
        &self,
        failed: i32,
        now_ms: i64,
        retry_after_ms: Option<i64>,
    ) -> Option<i64> {
        let delay = *self.delays_ms.get(usize::try_from(failed).ok()?)?;
        let spread = delay * u64::from(self.jitter_percent) / 100;
        let jittered = if spread == 0 {
            delay
        } else {
            rand::rng().random_range(delay - spread..=delay + spread)
        };
        let jittered = i64::try_from(jittered).unwrap_or(i64::MAX);
        let wait = jittered.max(retry_after_ms.unwrap_or(0));
        Some(now_ms.saturating_add(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(delays_ms: &[u64]) -> RetrySchedule {
        RetrySchedule {
            delays_ms: delays_ms.to_vec(),
            jitter_percent: 20,
        }
    }

    #[test]
    fn delays_follow_the_schedule_within_the_jitter() {
        let s = schedule(&[0, 5_000, 300_000]);
        assert_eq!(s.attempts(), 3);
        for _ in 0..200 {
            let second = s.next_due_ms(1, 1_000, None).unwrap() - 1_000;
            assert!((4_000..=6_000).contains(&second), "{second}");
            let third = s.next_due_ms(2, 0, None).unwrap();
            assert!((240_000..=360_000).contains(&third), "{third}");
        }
        assert_eq!(s.next_due_ms(3, 0, None), None, "the last attempt was made");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let s = schedule(&[0, 1_000]);
        for _ in 0..100 {
            assert!(s.next_due_ms(1, 0, Some(30_000)).unwrap() >= 30_000);
        }
    }
}
