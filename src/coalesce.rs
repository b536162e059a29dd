//! One upstream call for all concurrent askers: identical work (a thread
//! fetch, a timeline scan, a search) runs once, and everyone asking for it
//! meanwhile shares the result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// Runs one future per key at a time; everyone asking for the same key
/// meanwhile waits for that one result. The work runs in its own task, so
/// a reader who gives up (nginx closed the connection) does not cancel it
/// for the others.
pub(crate) struct Coalescer<K, V: Clone> {
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

    /// Whether no work is under way.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.inflight.lock().map(|m| m.is_empty()).unwrap_or(true)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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
}
