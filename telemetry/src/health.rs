//! Liveness and readiness of the process's components.
//!
//! Each component registers under its name, starts not ready, says when it is ready (its
//! stores restored, its Kafka clients connected) and when it is no longer live (its producer
//! failed for good). The process is ready when every component is, and live while none is
//! dead. Kept in one place for the process because the endpoints answer for all of it.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    ready: bool,
    live: bool,
}

fn components() -> &'static Mutex<BTreeMap<String, State>> {
    static COMPONENTS: OnceLock<Mutex<BTreeMap<String, State>>> = OnceLock::new();
    COMPONENTS.get_or_init(Mutex::default)
}

fn update(component: &str, change: impl FnOnce(&mut State)) {
    let mut all = components().lock().unwrap_or_else(|e| e.into_inner());
    let state = all.entry(component.to_owned()).or_insert(State {
        ready: false,
        live: true,
    });
    change(state);
}

/// A component exists and is not ready yet.
pub fn register(component: &str) {
    update(component, |s| {
        *s = State {
            ready: false,
            live: true,
        }
    });
}

pub fn set_ready(component: &str, ready: bool) {
    update(component, |s| s.ready = ready);
}

/// A component hit an error it cannot recover from; the process should be restarted.
pub fn set_dead(component: &str) {
    update(component, |s| s.live = false);
}

/// Whether the process may serve, and the components that hold it back.
pub fn readiness() -> (bool, Vec<String>) {
    let (registered, waiting) = components_where(|s| !s.ready);
    (registered > 0 && waiting.is_empty(), waiting)
}

/// Whether the process is live, and the components that are dead.
pub fn liveness() -> (bool, Vec<String>) {
    let (_, dead) = components_where(|s| !s.live);
    (dead.is_empty(), dead)
}

/// How many components registered, and the names of those in a state `holds` picks.
fn components_where(holds: impl Fn(&State) -> bool) -> (usize, Vec<String>) {
    let all = components().lock().unwrap_or_else(|e| e.into_inner());
    let names = all
        .iter()
        .filter(|(_, s)| holds(s))
        .map(|(name, _)| name.clone())
        .collect();
    (all.len(), names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_every_component_is_and_live_until_one_dies() {
        register("test-a");
        register("test-b");
        assert!(!readiness().0);
        set_ready("test-a", true);
        let (ready, waiting) = readiness();
        assert!(!ready);
        assert!(waiting.contains(&"test-b".to_owned()));
        set_ready("test-b", true);
        assert!(readiness().0);
        assert!(liveness().0);
        set_dead("test-b");
        assert_eq!(liveness(), (false, vec!["test-b".to_owned()]));
    }
}
