//! The one deadline of a request: made once from `timeout_seconds` when the
//! request arrives, and passed down to everything that works for it
//! (discovery, the thread fetch, decoding and rendering off the event loop),
//! so no step can take more than what is left.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// When a request's answer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

/// The deadline passed before the work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request's deadline passed")]
pub struct Expired;

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    pub fn at(self) -> Instant {
        self.0
    }

    /// Time left; zero once passed.
    pub(crate) fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub(crate) fn expired(self) -> bool {
        Instant::now() >= self.0
    }

    /// The same moment on the standard clock, for work on other threads
    /// (rendering a long thread checks it between replies).
    pub fn std(self) -> std::time::Instant {
        self.0.into_std()
    }

    /// Runs `work` until it is done or the deadline passes.
    pub async fn bound<F: Future>(self, work: F) -> Result<F::Output, Expired> {
        tokio::time::timeout_at(self.0, work).await.map_err(|_| Expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_is_cut_at_the_deadline() {
        let d = Deadline::after(Duration::from_secs(2));
        assert_eq!(d.bound(async { 7 }).await, Ok(7));
        let slow = d.bound(tokio::time::sleep(Duration::from_secs(3))).await;
        assert_eq!(slow, Err(Expired));
        assert!(d.expired());
        assert_eq!(d.remaining(), Duration::ZERO);
    }
}
