//! Coalescing of identical upstream work, and the last good answer per
//! root (served fresh for a while, and stale when the instance fails).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::time::Instant;

/// Runs one future per key at a time; everyone asking for the same key
/// meanwhile waits for that one result. The work runs in its own task, so
/// a reader who gives up (nginx closed the connection) does not cancel it
/// for the others.
pub struct Coalescer<K, V: Clone> {
    inflight: Mutex<HashMap<K, Shared<BoxFuture<'static, V>>>>,
}

impl<K, V: Clone> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone + Send + Sync + 'static> Coalescer<K, V> {
    /// Returns the result of `make()` for `key`, started now or joined if
    /// already running. `on_panic` stands in if the task panics.
    pub async fn run<F>(&self, key: K, make: impl FnOnce() -> F, on_panic: V) -> V
    where
        F: Future<Output = V> + Send + 'static,
    {
        let (fut, leader) = {
            let mut map = match self.inflight.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            match map.get(&key) {
                Some(f) => (f.clone(), false),
                None => {
                    let handle = tokio::spawn(crate::mastodon::inherit_calls(make()));
                    let f = async move { handle.await.unwrap_or(on_panic) }.boxed().shared();
                    map.insert(key.clone(), f.clone());
                    (f, true)
                }
            }
        };
        // The leader removes the entry even if it is cancelled while waiting.
        let guard = leader.then(|| RemoveOnDrop {
            map: &self.inflight,
            key: Some(key),
        });
        let v = fut.await;
        drop(guard);
        v
    }

    /// Whether work for `key` is under way (a new asker would join it).
    pub fn contains(&self, key: &K) -> bool {
        self.inflight.lock().map(|m| m.contains_key(key)).unwrap_or(false)
    }

    /// Keys being worked on right now.
    pub fn len(&self) -> usize {
        self.inflight.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct RemoveOnDrop<'a, K: Hash + Eq, V: Clone> {
    map: &'a Mutex<HashMap<K, Shared<BoxFuture<'static, V>>>>,
    key: Option<K>,
}

impl<K: Hash + Eq, V: Clone> Drop for RemoveOnDrop<'_, K, V> {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut map)) = (self.key.take(), self.map.lock()) {
            map.remove(&key);
        }
    }
}

/// A rendered answer, serialized once per fill.
#[derive(Debug, Clone)]
pub struct Entry {
    pub body: Bytes,
    /// The same answer with `"stale":true`, for stale-if-error.
    pub stale_body: Bytes,
    pub filled: Instant,
    /// Cleared by a config reload: served only if the instance fails.
    pub fresh: bool,
}

/// Whether a cached entry may be served as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Too old to serve normally, still good when upstream fails.
    Stale,
}

/// The last good answer per root, bounded in age and count.
#[derive(Debug)]
pub struct AnswerCache {
    inner: Mutex<Answers>,
}

#[derive(Debug)]
struct Answers {
    map: HashMap<String, Entry>,
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
    pub fn reconfigure(&self, fresh: Duration, keep: Duration, max_entries: usize) {
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
    pub fn get(&self, root: &str) -> Option<(Entry, Freshness)> {
        let mut a = self.inner.lock().ok()?;
        let (fresh, keep) = (a.fresh, a.keep);
        let e = a.map.get(root)?;
        let age = e.filled.elapsed();
        if age >= keep {
            a.map.remove(root);
            return None;
        }
        let f = if e.fresh && age < fresh {
            Freshness::Fresh
        } else {
            Freshness::Stale
        };
        Some((e.clone(), f))
    }

    pub fn insert(&self, root: &str, entry: Entry) {
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
        a.map.insert(root.to_string(), entry);
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|a| a.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panicking_fetch_answers_the_stand_in_value_and_is_forgotten() {
        let c: Coalescer<&'static str, Result<u8, crate::mastodon::UpstreamError>> = Coalescer::default();
        let v = c
            .run(
                "k",
                || async { panic!("a bug") },
                Err(crate::mastodon::UpstreamError::Bug),
            )
            .await;
        let Err(e) = v else {
            panic!("expected the stand-in error")
        };
        assert!(matches!(e, crate::mastodon::UpstreamError::Bug));
        assert_eq!(crate::error::Error::from(e).status(), 500);
        assert!(c.is_empty());
        assert_eq!(c.run("k", || async { Ok(1) }, Ok(0)).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn identical_work_runs_once() {
        let c: Arc<Coalescer<&'static str, usize>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, runs) = (c.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                c.run(
                    "k",
                    || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 100
                    },
                    0,
                )
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("join"), 100);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(c.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn answers_go_stale_then_expire_and_are_bounded() {
        let cache = AnswerCache::new(Duration::from_secs(60), Duration::from_secs(600), 2);
        let entry = || Entry {
            body: Bytes::from_static(b"{}"),
            stale_body: Bytes::from_static(b"{}"),
            filled: Instant::now(),
            fresh: true,
        };
        cache.insert("a", entry());
        assert_eq!(cache.get("a").map(|e| e.1), Some(Freshness::Fresh));
        // A reload makes every answer stale (re-rendered under the new
        // config) but keeps it for stale-if-error.
        cache.reconfigure(Duration::from_secs(60), Duration::from_secs(600), 2);
        assert_eq!(cache.get("a").map(|e| e.1), Some(Freshness::Stale));
        cache.insert("a", entry());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(cache.get("a").map(|e| e.1), Some(Freshness::Stale));
        cache.insert("b", entry());
        cache.insert("c", entry());
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none(), "the oldest entry was evicted");
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(cache.get("b").is_none());
    }
}
