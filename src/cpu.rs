//! The CPU part of an answer (decoding a large upstream body, rendering a
//! long thread) off the event loop. The daemon runs one event loop: a
//! render that took seconds there would hold up every other request, the
//! watchdog and SIGTERM. Small jobs stay on the loop (a thread hop costs
//! more than they do); large ones run on tokio's blocking threads, at most
//! [`limits::CPU_JOBS`] at once, and the caller stops waiting at its
//! deadline.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::deadline::{Deadline, Expired};
use crate::limits;

/// Permits for jobs off the loop: the machine's cores are shared by every
/// request, so the whole process has one pool, as it has one CPU.
static JOBS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(limits::CPU_JOBS));

/// Why a job gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("the request's deadline passed")]
    Expired,
    /// The job panicked: a bug of ours, met on one input.
    #[error("a job panicked (a bug; please report it)")]
    Panicked,
}

impl From<Expired> for JobError {
    fn from(_: Expired) -> JobError {
        JobError::Expired
    }
}

/// Runs `job`, whose input is `bytes` long: inline when small, else on a
/// blocking thread when a permit is free before `deadline`. A job the
/// caller stopped waiting for still holds its permit until it returns, so
/// abandoned work never piles up; long jobs check the deadline themselves
/// (see `render`).
pub async fn run<T: Send + 'static>(
    bytes: usize,
    deadline: Deadline,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JobError> {
    if bytes < limits::CPU_INLINE_BYTES {
        return Ok(job());
    }
    let permit = deadline.bound(JOBS.acquire()).await?.map_err(|_| JobError::Panicked)?;
    let handle = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job()
    });
    match deadline.bound(handle).await? {
        Ok(v) => Ok(v),
        Err(_) => Err(JobError::Panicked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn small_jobs_run_inline_and_large_ones_off_the_loop() {
        let d = Deadline::after(Duration::from_secs(5));
        let here = std::thread::current().id();
        let small = run(10, d, move || std::thread::current().id() == here).await;
        assert_eq!(small, Ok(true));
        let large = run(limits::CPU_INLINE_BYTES, d, move || std::thread::current().id() == here).await;
        assert_eq!(large, Ok(false));
    }

    #[tokio::test]
    async fn the_caller_stops_waiting_at_its_deadline_and_a_panic_is_one_error() {
        let d = Deadline::after(Duration::from_millis(50));
        let slow = run(limits::CPU_INLINE_BYTES, d, || {
            std::thread::sleep(Duration::from_millis(400))
        })
        .await;
        assert_eq!(slow, Err(JobError::Expired));
        let d = Deadline::after(Duration::from_secs(5));
        let bug = run(limits::CPU_INLINE_BYTES, d, || -> u8 { panic!("a bug") }).await;
        assert_eq!(bug, Err(JobError::Panicked));
    }
}
