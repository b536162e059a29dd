//! The state file: which post announced which article, which articles had
//! none (and when we last looked), and how far the timeline was scanned.
//!
//! Reads the Go original's `{"roots": {path: [ids]}}`; its empty lists are
//! misses and are looked up again. One writer task writes the whole file
//! atomically (temporary file, fsync, rename, fsync of the directory), so
//! concurrent requests and crashes never leave a torn file.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ids::StatusId;
use crate::limits;

/// The file's JSON. `roots` is the Go original's key and meaning.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct StateFile {
    #[serde(default, deserialize_with = "lists_or_null")]
    roots: BTreeMap<String, Vec<StatusId>>,
    /// Article path → Unix time of the lookup that found no root.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    misses: BTreeMap<String, u64>,
    /// Newest status id the timeline scan has indexed.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "id_or_none")]
    scanned_up_to: Option<StatusId>,
}

/// Go's encoding/json writes an empty (nil) list as `null`: read it as a
/// miss like `[]`, not as a corrupt file. A string in a list that is not
/// an id is dropped alone; the list is kept oldest first, once each.
fn lists_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<StatusId>>, D::Error> {
    let raw = BTreeMap::<String, Option<Vec<MaybeId>>>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let mut ids: Vec<StatusId> = v.unwrap_or_default().into_iter().filter_map(|m| m.0).collect();
            ids.sort();
            ids.dedup();
            (k, ids)
        })
        .collect())
}

/// A string of a list, read without a copy: the id it is, if it is one.
struct MaybeId(Option<StatusId>);

impl<'de> Deserialize<'de> for MaybeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(MaybeId(StatusId::parse(&s)))
    }
}

/// A watermark that is not an id means "not scanned yet", not a corrupt
/// file: the next scan writes a good one.
fn id_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<StatusId>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| StatusId::parse(&s)))
}

/// What the state knows about an article path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Root ids, oldest first.
    Roots(Vec<StatusId>),
    /// Looked up recently and not found: do not ask upstream yet.
    RecentMiss,
    Unknown,
}

/// The state, in memory and on disk.
#[derive(Debug)]
pub struct State {
    data: Mutex<StateFile>,
    path: Option<PathBuf>,
    /// Config `max_state_entries` and `miss_retry_seconds`; a reload
    /// changes them in place.
    max_entries: AtomicUsize,
    miss_retry_secs: AtomicU64,
    changed: Notify,
    /// Bumped on every change; the writer compares it to what it wrote.
    version: AtomicU64,
    written: AtomicU64,
    /// Whether the last write failed (so the failure is logged once).
    failing: AtomicBool,
    /// Wait before retrying a failed write.
    retry: Duration,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    /// An empty state that is never written (the `lookup` command without
    /// a state file, tests).
    pub fn in_memory(max_entries: usize, miss_retry: Duration) -> State {
        State::with(StateFile::default(), None, max_entries, miss_retry)
    }

    fn with(data: StateFile, path: Option<PathBuf>, max_entries: usize, miss_retry: Duration) -> State {
        State {
            data: Mutex::new(data),
            path,
            max_entries: AtomicUsize::new(max_entries),
            miss_retry_secs: AtomicU64::new(miss_retry.as_secs()),
            changed: Notify::new(),
            version: AtomicU64::new(0),
            written: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            retry: limits::STATE_RETRY,
        }
    }

    /// The state file's path; `None` for a state kept in memory only.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Loads the state file. A missing file is an empty state; a corrupt
    /// one is moved aside to `<file>.corrupt-<unix time>` and the daemon
    /// starts empty, saying so.
    pub fn load(path: &Path, max_entries: usize, miss_retry: Duration) -> State {
        remove_stale_temporaries(path);
        let data = match read_file(path) {
            Ok(None) => StateFile::default(),
            Ok(Some(data)) => data,
            Err(Unusable::Unreadable(e)) => {
                // Not our data to move or overwrite: keep it, work in memory.
                tracing::error!(
                    "cannot read the state file {}: {e}; fix its permissions (the service's user must own it) \
                     and restart; until then the state is kept in memory only and the file is left alone",
                    path.display()
                );
                return State::in_memory(max_entries, miss_retry);
            }
            Err(Unusable::Corrupt(problem)) => {
                let aside = PathBuf::from(format!("{}.corrupt-{}", path.display(), now_unix()));
                match std::fs::rename(path, &aside) {
                    Ok(()) => tracing::warn!(
                        "state file {} is unusable ({problem}); moved it to {} and starting with an empty state",
                        path.display(),
                        aside.display()
                    ),
                    Err(e) => tracing::warn!(
                        "state file {} is unusable ({problem}) and could not be moved aside ({e}); starting with an empty state",
                        path.display()
                    ),
                }
                StateFile::default()
            }
        };
        let mut data = data;
        // The Go original stored misses as empty lists, for ever: look again
        // (so is a list none of whose entries was an id).
        let now = now_unix().saturating_sub(miss_retry.as_secs());
        let go_misses: Vec<String> = data
            .roots
            .iter()
            .filter(|(_, ids)| ids.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        let go_converted = !go_misses.is_empty();
        for k in go_misses {
            data.roots.remove(&k);
            data.misses.insert(k, now);
        }
        let state = State::with(data, Some(path.to_path_buf()), max_entries, miss_retry);
        let dropped = state.data.lock().map(|mut d| state.bound(&mut d)).unwrap_or(0);
        if dropped > 0 {
            // Years of a Go state file may hold more than the bound: the
            // file as it was stays next to it, so nothing is lost.
            let aside = PathBuf::from(format!("{}.before-max-entries-{}", path.display(), now_unix()));
            match std::fs::copy(path, &aside) {
                Ok(_) => tracing::warn!("the state file as it was is kept in {}", aside.display()),
                Err(e) => tracing::warn!("could not keep a copy of the state file in {}: {e}", aside.display()),
            }
        }
        // Written back bounded (and in this version's form) at once.
        if dropped > 0 || go_converted {
            state.version.fetch_add(1, Ordering::SeqCst);
            state.changed.notify_one();
        }
        state
    }

    /// Retries failed writes after `retry` instead of [`limits::STATE_RETRY`].
    pub fn with_retry(mut self, retry: Duration) -> State {
        self.retry = retry;
        self
    }

    /// New bounds from a reloaded config; applied at once.
    pub(crate) fn set_limits(&self, max_entries: usize, miss_retry: Duration) {
        self.max_entries.store(max_entries, Ordering::Relaxed);
        self.miss_retry_secs.store(miss_retry.as_secs(), Ordering::Relaxed);
        self.change(|_| true);
    }

    /// Whether the last write failed.
    pub fn write_failing(&self) -> bool {
        self.failing.load(Ordering::SeqCst)
    }

    /// What is known about an article path.
    pub fn lookup(&self, path: &str) -> Known {
        let Ok(d) = self.data.lock() else {
            return Known::Unknown;
        };
        if let Some(ids) = d.roots.get(path).filter(|ids| !ids.is_empty()) {
            return Known::Roots(ids.clone());
        }
        match d.misses.get(path) {
            Some(&at) if now_unix().saturating_sub(at) < self.miss_retry_secs.load(Ordering::Relaxed) => {
                Known::RecentMiss
            }
            _ => Known::Unknown,
        }
    }

    /// Records root ids for an article (kept oldest first, deduplicated).
    pub fn add_roots(&self, path: &str, ids: &[StatusId]) {
        if ids.is_empty() {
            return;
        }
        self.change(|d| {
            let entry = d.roots.entry(path.to_string()).or_default();
            let before = entry.clone();
            entry.extend(ids.iter().cloned());
            entry.sort();
            entry.dedup();
            let changed = *entry != before;
            changed | d.misses.remove(path).is_some()
        });
    }

    /// Records that an article has no root, for `miss_retry`.
    pub(crate) fn add_miss(&self, path: &str) {
        self.change(|d| {
            if d.roots.get(path).is_some_and(|ids| !ids.is_empty()) {
                return false;
            }
            d.misses.insert(path.to_string(), now_unix());
            true
        });
    }

    /// Removes a root that the instance says is gone (404).
    pub(crate) fn remove_root(&self, path: &str, id: &StatusId) {
        self.change(|d| {
            let Some(ids) = d.roots.get_mut(path) else { return false };
            let before = ids.len();
            ids.retain(|i| i != id);
            let changed = ids.len() != before;
            if ids.is_empty() {
                d.roots.remove(path);
            }
            changed
        });
    }

    pub(crate) fn scanned_up_to(&self) -> Option<StatusId> {
        self.data.lock().ok()?.scanned_up_to.clone()
    }

    pub(crate) fn set_scanned_up_to(&self, id: &StatusId) {
        self.change(|d| {
            if d.scanned_up_to.as_ref().is_some_and(|old| old >= id) {
                return false;
            }
            d.scanned_up_to = Some(id.clone());
            true
        });
    }

    /// Number of entries (roots + misses).
    pub fn len(&self) -> usize {
        self.data.lock().map(|d| d.roots.len() + d.misses.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn change(&self, f: impl FnOnce(&mut StateFile) -> bool) {
        let Ok(mut d) = self.data.lock() else { return };
        if f(&mut d) {
            let _ = self.bound(&mut d);
            drop(d);
            self.version.fetch_add(1, Ordering::SeqCst);
            self.changed.notify_one();
        }
    }

    /// Keeps at most `max_entries`: expired misses go first, then the
    /// oldest misses, and only then the roots of the oldest announcements;
    /// returns how many roots went. One sort at most, whatever the number
    /// of entries over; misses are trimmed a little below the bound, so a
    /// full state does not sort again on every new miss.
    fn bound(&self, d: &mut StateFile) -> usize {
        let max = self.max_entries.load(Ordering::Relaxed);
        if d.roots.len() + d.misses.len() <= max {
            return 0;
        }
        let expired_before = now_unix().saturating_sub(self.miss_retry_secs.load(Ordering::Relaxed));
        d.misses.retain(|_, at| *at >= expired_before);
        let over = (d.roots.len() + d.misses.len()).saturating_sub(max);
        if over == 0 {
            return 0;
        }
        let from_misses = (over + max / limits::STATE_TRIM_SLACK).min(d.misses.len());
        if from_misses > 0 {
            let mut by_age: Vec<(u64, &String)> = d.misses.iter().map(|(k, at)| (*at, k)).collect();
            by_age.sort_unstable();
            let oldest: Vec<String> = by_age[..from_misses].iter().map(|(_, k)| (*k).clone()).collect();
            for k in oldest {
                d.misses.remove(&k);
            }
        }
        let over = (d.roots.len() + d.misses.len()).saturating_sub(max);
        if over == 0 {
            return 0;
        }
        // An empty list (none after loading) sorts first: it names no post.
        let mut by_id: Vec<(Option<&StatusId>, &String)> = d.roots.iter().map(|(k, ids)| (ids.first(), k)).collect();
        by_id.sort_unstable();
        let oldest: Vec<String> = by_id[..over].iter().map(|(_, k)| (*k).clone()).collect();
        for k in oldest {
            d.roots.remove(&k);
        }
        tracing::warn!(
            "more announced articles than \"max_state_entries\" ({max}): forgot the {over} announced longest ago; \
             raise max_state_entries to keep them"
        );
        over
    }

    /// Writes the state now if it changed since the last write.
    pub async fn flush(&self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else { return Ok(()) };
        let version = self.version.load(Ordering::SeqCst);
        if version == self.written.load(Ordering::SeqCst) {
            return Ok(());
        }
        let json = {
            let d = self
                .data
                .lock()
                .map_err(|_| std::io::Error::other("state lock poisoned"))?;
            let expired_before = now_unix().saturating_sub(self.miss_retry_secs.load(Ordering::Relaxed));
            let mut snapshot = d.clone();
            snapshot.misses.retain(|_, at| *at >= expired_before);
            serde_json::to_vec_pretty(&snapshot).map_err(std::io::Error::other)?
        };
        tokio::task::spawn_blocking(move || write_atomically(&path, &json))
            .await
            .map_err(std::io::Error::other)??;
        self.written.store(version, Ordering::SeqCst);
        Ok(())
    }

    /// The single writer: writes after each change; when the disk fails
    /// (read-only, full) it logs once, keeps serving from memory and
    /// retries. Flushes once more on shutdown.
    pub async fn writer(&self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            loop {
                match self.flush().await {
                    Ok(()) => {
                        if self.failing.swap(false, Ordering::SeqCst) {
                            tracing::info!("state file written again");
                        }
                        break;
                    }
                    Err(e) => {
                        if !self.failing.swap(true, Ordering::SeqCst) {
                            tracing::error!(
                                "cannot write the state file: {e}; serving from memory, retrying every {}s",
                                self.retry.as_secs()
                            );
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(self.retry) => {}
                            _ = shutdown.cancelled() => break,
                        }
                    }
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        if let Err(e) = self.flush().await {
            tracing::error!("cannot write the state file on shutdown: {e}");
        }
    }
}

/// Why a state file cannot be used.
enum Unusable {
    /// It cannot be read (permissions, I/O): left where it is.
    Unreadable(std::io::Error),
    /// It was read but is not a state file: moved aside.
    Corrupt(String),
}

fn read_file(path: &Path) -> Result<Option<StateFile>, Unusable> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(Unusable::Unreadable(e)),
        // The directory is not there as it should be (not a directory, a
        // broken mount): nothing to keep; start empty, the writer retries.
        Err(e) => {
            tracing::warn!("cannot open the state file {}: {e}; starting empty", path.display());
            return Ok(None);
        }
    };
    let mut text = Vec::new();
    file.take(limits::MAX_STATE_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(Unusable::Unreadable)?;
    if text.len() as u64 > limits::MAX_STATE_FILE_BYTES {
        return Err(Unusable::Corrupt(format!(
            "larger than {} bytes",
            limits::MAX_STATE_FILE_BYTES
        )));
    }
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(Unusable::Corrupt("empty".into()));
    }
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Unusable::Corrupt(e.to_string()))
}

/// The temporary file of a write cut short by a crash (`kill -9`, power
/// loss) is never renamed; remove such leftovers of earlier runs at start.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten().take(10_000) {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Temporary file in the same directory, fsync, rename over, fsync the
/// directory: the file on disk is always a complete old or new version.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> StatusId {
        StatusId::parse(s).expect("an id")
    }

    const RETRY: Duration = Duration::from_secs(300);

    #[test]
    fn reads_the_go_original_format_and_retries_its_misses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"roots": {"/2018/12/01/post": ["1012345678901234567"], "/never": []}}"#,
        )
        .expect("write");
        let s = State::load(&path, 100, RETRY);
        assert_eq!(
            s.lookup("/2018/12/01/post"),
            Known::Roots(vec![id("1012345678901234567")])
        );
        assert_eq!(s.lookup("/never"), Known::Unknown);
        assert_eq!(s.lookup("/other"), Known::Unknown);
    }

    #[tokio::test]
    async fn misses_expire_roots_stay_and_the_file_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let s = State::load(&path, 100, RETRY);
        s.add_miss("/a");
        s.add_roots("/b", &[id("20"), id("3")]);
        s.add_roots("/b", &[id("100")]);
        assert_eq!(s.lookup("/a"), Known::RecentMiss);
        assert_eq!(s.lookup("/b"), Known::Roots(vec![id("3"), id("20"), id("100")]));
        s.flush().await.expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["roots"]["/b"][0], "3");
        let again = State::load(&path, 100, RETRY);
        assert_eq!(again.lookup("/a"), Known::RecentMiss);
        // A miss recorded long ago is looked up again.
        let old = State::load(&path, 100, Duration::from_secs(0));
        assert_eq!(old.lookup("/a"), Known::Unknown);
        // A root found later replaces the miss.
        s.add_roots("/a", &[id("7")]);
        assert_eq!(s.lookup("/a"), Known::Roots(vec![id("7")]));
    }

    #[test]
    fn entries_are_bounded_and_misses_go_first() {
        let s = State::in_memory(3, RETRY);
        s.add_roots("/r1", &[id("1")]);
        s.add_roots("/r2", &[id("2")]);
        for i in 0..50 {
            s.add_miss(&format!("/m{i}"));
        }
        assert_eq!(s.len(), 3);
        assert!(matches!(s.lookup("/r1"), Known::Roots(_)));
        assert!(matches!(s.lookup("/r2"), Known::Roots(_)));
    }

    #[test]
    fn the_bound_drops_old_misses_then_the_oldest_roots_in_one_pass() {
        let s = State::in_memory(100, RETRY);
        for i in 0..90 {
            s.add_roots(&format!("/r{i}"), &[id(&format!("{}", 1000 + i))]);
        }
        for i in 0..500 {
            s.add_miss(&format!("/m{i}"));
        }
        assert!(s.len() <= 100, "{}", s.len());
        for i in 0..90 {
            assert!(matches!(s.lookup(&format!("/r{i}")), Known::Roots(_)), "/r{i}");
        }
        // Lowering the bound (a reload) drops the misses, then the roots
        // announced longest ago (smallest ids), and keeps the newest.
        s.set_limits(50, RETRY);
        assert_eq!(s.len(), 50);
        assert_eq!(s.lookup("/r39"), Known::Unknown);
        assert_eq!(s.lookup("/r40"), Known::Roots(vec![id("1040")]));
        assert_eq!(s.lookup("/r89"), Known::Roots(vec![id("1089")]));
    }

    #[tokio::test]
    async fn a_go_file_over_the_bound_is_bounded_written_back_and_kept_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let mut roots = serde_json::Map::new();
        for i in 0..300 {
            roots.insert(format!("/p{i}"), serde_json::json!([format!("{}", 5000 + i)]));
            roots.insert(format!("/junk{i}"), serde_json::Value::Null);
        }
        std::fs::write(&path, serde_json::json!({ "roots": roots }).to_string()).expect("write");
        let s = State::load(&path, 100, RETRY);
        assert_eq!(s.len(), 100);
        assert_eq!(s.lookup("/p299"), Known::Roots(vec![id("5299")]));
        assert_eq!(s.lookup("/p0"), Known::Unknown);
        s.flush().await.expect("flush");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(written["roots"].as_object().map(|r| r.len()), Some(100));
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .expect("readdir")
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.before-max-entries-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "the file as it was is kept");
        let kept = std::fs::read_to_string(aside[0].path()).expect("read");
        assert_eq!(kept.matches("/junk").count(), 300);
    }

    #[test]
    fn go_null_lists_are_misses_and_leftover_temporaries_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, r#"{"roots": {"/a": ["11"], "/never": null}}"#).expect("write");
        let tmp = dir.path().join(".state.json.tmp-123-0");
        std::fs::write(&tmp, "{").expect("write");
        let other = dir.path().join("unrelated.tmp-1");
        std::fs::write(&other, "x").expect("write");
        let s = State::load(&path, 100, RETRY);
        assert_eq!(s.lookup("/a"), Known::Roots(vec![id("11")]));
        assert_eq!(s.lookup("/never"), Known::Unknown);
        assert!(path.exists(), "a Go file with null lists is not corrupt");
        assert!(!tmp.exists(), "leftover temporary file removed");
        assert!(other.exists());
    }

    /// Every server's ids are kept as they are, in time order; a string
    /// that is not an id costs only itself, and a list left with none is a
    /// miss to look up again, never a root the API calls would refuse.
    #[test]
    fn ids_of_any_server_are_kept_and_non_ids_dropped_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"roots": {
                "/mastodon": ["116843781319371281", "99", "1\"><b>", "99"],
                "/gts": ["01F8MH75CBF9JFX4ZAD54N0W0R"],
                "/akkoma": ["AEaHkBvDr3M2kqjHvE", "../oauth"],
                "/junk": ["a b", ""]
            }, "scanned_up_to": "../x"}"#,
        )
        .expect("write");
        let s = State::load(&path, 100, RETRY);
        assert_eq!(
            s.lookup("/mastodon"),
            Known::Roots(vec![id("99"), id("116843781319371281")])
        );
        assert_eq!(s.lookup("/gts"), Known::Roots(vec![id("01F8MH75CBF9JFX4ZAD54N0W0R")]));
        assert_eq!(s.lookup("/akkoma"), Known::Roots(vec![id("AEaHkBvDr3M2kqjHvE")]));
        assert_eq!(s.lookup("/junk"), Known::Unknown);
        assert_eq!(s.scanned_up_to(), None);
        assert!(path.exists(), "odd entries do not make the file corrupt");
    }

    #[test]
    fn an_unreadable_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: open works, read fails.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).expect("mkdir");
        let s = State::load(&path, 100, RETRY);
        s.add_roots("/a", &[id("1")]);
        assert_eq!(s.lookup("/a"), Known::Roots(vec![id("1")]));
        assert!(path.is_dir(), "not moved aside");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("readdir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["state.json".to_string()]);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, r#"{"roots": {"/a": ["1"#).expect("write");
        let s = State::load(&path, 100, RETRY);
        assert!(s.is_empty());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("readdir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n.starts_with("state.json.corrupt-")), "{names:?}");
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_failing_disk_keeps_the_state_in_memory() {
        let s = State::load(Path::new("/nonexistent-dir/state.json"), 100, RETRY);
        s.add_roots("/a", &[id("1")]);
        assert!(s.flush().await.is_err());
        assert_eq!(s.lookup("/a"), Known::Roots(vec![id("1")]));
    }
}
