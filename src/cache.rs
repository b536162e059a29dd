//! The last good answer per root: served fresh for a while, and stale
//! when the instance fails.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::ids::StatusId;

/// A rendered answer, serialized once per fill.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub body: Bytes,
    /// The same answer with `"stale":true`, for stale-if-error.
    pub stale_body: Bytes,
    pub filled: Instant,
    /// Cleared by a config reload: served only if the instance fails.
    pub fresh: bool,
    /// The instance was still completing the thread: fresh (and cached by
    /// nginx) only this long, then fetched again.
    pub refresh_after: Option<Duration>,
}

/// Whether a cached entry may be served as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    /// Too old to serve normally, still good when upstream fails.
    Stale,
}

/// The last good answer per root, bounded in age and count.
#[derive(Debug)]
pub(crate) struct AnswerCache {
    inner: Mutex<Answers>,
}

#[derive(Debug)]
struct Answers {
    map: HashMap<StatusId, Entry>,
    fresh: Duration,
    keep: Duration,
    max_entries: usize,
}

impl AnswerCache {
    pub fn new(fresh: Duration, keep: Duration, max_entries: usize) -> Self {
        AnswerCache {
            inner: Mutex::new(Answers {
                map: HashMap::new(),
                fresh,
                keep,
                max_entries,
            }),
        }
    }

    /// New bounds from a reloaded config. Every entry becomes stale: the
    /// next request renders under the new config (moderation, visibility),
    /// and the old answer is still there if the instance fails meanwhile.
    pub(crate) fn reconfigure(&self, fresh: Duration, keep: Duration, max_entries: usize) {
        let Ok(mut a) = self.inner.lock() else { return };
        a.fresh = fresh;
        a.keep = keep;
        a.max_entries = max_entries;
        for e in a.map.values_mut() {
            e.fresh = false;
        }
        while a.map.len() > max_entries {
            let Some(oldest) = a.map.iter().min_by_key(|(_, e)| e.filled).map(|(k, _)| k.clone()) else {
                break;
            };
            a.map.remove(&oldest);
        }
    }

    /// The entry for a root and how fresh it is; `None` past `keep`.
    pub fn get(&self, root: &StatusId) -> Option<(Entry, Freshness)> {
        let mut a = self.inner.lock().ok()?;
        let (fresh, keep) = (a.fresh, a.keep);
        let e = a.map.get(root)?;
        let age = e.filled.elapsed();
        if age >= keep {
            a.map.remove(root);
            return None;
        }
        let fresh = e.refresh_after.map_or(fresh, |r| r.min(fresh));
        let f = if e.fresh && age < fresh {
            Freshness::Fresh
        } else {
            Freshness::Stale
        };
        Some((e.clone(), f))
    }

    pub fn insert(&self, root: &StatusId, entry: Entry) {
        let Ok(mut a) = self.inner.lock() else { return };
        if a.map.len() >= a.max_entries && !a.map.contains_key(root) {
            let keep = a.keep;
            a.map.retain(|_, e| e.filled.elapsed() < keep);
            if a.map.len() >= a.max_entries
                && let Some(oldest) = a.map.iter().min_by_key(|(_, e)| e.filled).map(|(k, _)| k.clone())
            {
                a.map.remove(&oldest);
            }
        }
        a.map.insert(root.clone(), entry);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|a| a.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> StatusId {
        StatusId::parse(s).expect("an id")
    }

    #[tokio::test(start_paused = true)]
    async fn answers_go_stale_then_expire_and_are_bounded() {
        let cache = AnswerCache::new(Duration::from_secs(60), Duration::from_secs(600), 2);
        let entry = || Entry {
            body: Bytes::from_static(b"{}"),
            stale_body: Bytes::from_static(b"{}"),
            filled: Instant::now(),
            fresh: true,
            refresh_after: None,
        };
        cache.insert(&id("a"), entry());
        assert_eq!(cache.get(&id("a")).map(|e| e.1), Some(Freshness::Fresh));
        // A reload makes every answer stale (re-rendered under the new
        // config) but keeps it for stale-if-error.
        cache.reconfigure(Duration::from_secs(60), Duration::from_secs(600), 2);
        assert_eq!(cache.get(&id("a")).map(|e| e.1), Some(Freshness::Stale));
        cache.insert(&id("a"), entry());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(cache.get(&id("a")).map(|e| e.1), Some(Freshness::Stale));
        cache.insert(&id("b"), entry());
        cache.insert(&id("c"), entry());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&id("a")).is_none(), "the oldest entry was evicted");
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(cache.get(&id("b")).is_none());
    }
}
