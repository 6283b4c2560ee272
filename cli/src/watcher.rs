//! A file watcher for the commands that re-run on every save (`check --watch`, `test
//! --watch`): it knows files and Ctrl-C, not what the commands do with them.
//!
//! Events come from notify (inotify, FSEvents, …) and are gathered until a save's burst
//! settles, on the receiving side: the loop blocks on a channel, so an idle watch uses no
//! CPU (notify's own debouncers wake up a hundred times a second). Roots stay watched when
//! a root directory is deleted and created again or renamed away and back: the kernel
//! drops a watch with its directory, so each root's parent is watched too, and a root that
//! reappears is watched again.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

pub use notify::RecursiveMode;
use notify::Watcher as _;

/// After a change, how long to wait for more before re-running: editors save in several
/// steps (truncate + write, or write a temporary file and rename it over the original).
/// Short enough that a re-run lands well within 300 ms of a save.
const SETTLE: Duration = Duration::from_millis(30);
/// A file rewritten without pause still gets a re-run this often.
const MAX_SETTLE: Duration = Duration::from_millis(250);

enum Wake {
    Changed(Vec<PathBuf>),
    WatchError(String),
    Interrupted,
}

/// Watches directories and delivers batches of changed paths until Ctrl-C.
pub struct Watcher {
    watcher: notify::RecommendedWatcher,
    roots: Vec<(PathBuf, RecursiveMode)>,
    events: Receiver<Wake>,
}

impl Watcher {
    /// Starts watching `roots` (see [`root_for`]) and takes over Ctrl-C: it ends the watch
    /// and stops the rule evaluations running under `stop`.
    pub fn start(
        mut roots: Vec<(PathBuf, RecursiveMode)>,
        stop: &'static portcullis_engine::StopHandle,
    ) -> Result<Watcher, String> {
        roots.sort();
        roots.dedup();
        let (tx, events) = channel::<Wake>();
        let watcher = start_notify(&roots, tx.clone())?;
        set_interrupt_handler(tx, stop);
        Ok(Watcher {
            watcher,
            roots,
            events,
        })
    }

    /// Blocks until something changes and the burst settles; the changed paths, absolute
    /// (deleted files too), or `None` after Ctrl-C. Roots named by the changes are watched
    /// again when they exist.
    pub fn next(&mut self) -> Option<Vec<PathBuf>> {
        let paths = next_change(&self.events)?;
        for (root, mode) in &self.roots {
            if paths.iter().any(|p| p == root) && root.is_dir() {
                let _ = self.watcher.unwatch(root);
                if let Err(e) = self.watcher.watch(root, *mode) {
                    log::warn!("cannot watch {} again: {e}", root.display());
                }
            }
        }
        let mut paths: Vec<PathBuf> = paths.iter().map(|p| event_path(p)).collect();
        paths.sort();
        paths.dedup();
        Some(paths)
    }
}

fn start_notify(
    roots: &[(PathBuf, RecursiveMode)],
    events: Sender<Wake>,
) -> Result<notify::RecommendedWatcher, String> {
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let wake = match result {
            // Reads and closes change nothing.
            Ok(event) if event.kind.is_access() => return,
            Ok(event) => Wake::Changed(event.paths),
            Err(error) => Wake::WatchError(error.to_string()),
        };
        let _ = events.send(wake);
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    for (root, mode) in roots {
        watcher
            .watch(root, *mode)
            .map_err(|e| format!("cannot watch {}: {e}", root.display()))?;
    }
    // The parents tell when a root directory goes away or comes back.
    let mut parents: Vec<&Path> = roots
        .iter()
        .filter(|(root, _)| root.is_dir())
        .filter_map(|(root, _)| root.parent())
        .collect();
    parents.sort();
    parents.dedup();
    for parent in parents {
        if roots.iter().all(|(root, _)| root != parent)
            && let Err(e) = watcher.watch(parent, RecursiveMode::NonRecursive)
        {
            log::info!("cannot watch {}: {e}", parent.display());
        }
    }
    Ok(watcher)
}

/// Blocks until something changes, then gathers the rest of the burst; `None` on Ctrl-C.
fn next_change(events: &Receiver<Wake>) -> Option<Vec<PathBuf>> {
    let mut paths = loop {
        match events.recv() {
            Ok(Wake::Changed(paths)) => break paths,
            Ok(Wake::WatchError(message)) => log::warn!("file watching: {message}"),
            Ok(Wake::Interrupted) | Err(_) => return None,
        }
    };
    let deadline = Instant::now() + MAX_SETTLE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.recv_timeout(SETTLE.min(left)) {
            Ok(Wake::Changed(more)) => paths.extend(more),
            Ok(Wake::WatchError(message)) => log::warn!("file watching: {message}"),
            Ok(Wake::Interrupted) => return None,
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
    Some(paths)
}

fn set_interrupt_handler(tx: Sender<Wake>, stop: &'static portcullis_engine::StopHandle) {
    // Ends the loop instead of killing the process mid-print, and stops a rule that is
    // running so that the loop gets to see it.
    if let Err(e) = ctrlc::set_handler(move || {
        stop.stop();
        let _ = tx.send(Wake::Interrupted);
    }) {
        log::warn!("cannot handle Ctrl-C: {e}");
    }
}

/// The directory to watch for `path` and how: a directory (recursively when asked); a file
/// through its directory, so that an editor replacing the file by a rename is seen.
pub fn root_for(path: &Path, recursive_dirs: bool) -> Option<(PathBuf, RecursiveMode)> {
    let absolute = absolute(path);
    if absolute.is_dir() {
        let mode = if recursive_dirs {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        Some((absolute, mode))
    } else {
        absolute
            .parent()
            .map(|dir| (dir.to_path_buf(), RecursiveMode::NonRecursive))
    }
}

/// `path` made absolute, links resolved where it exists.
pub fn absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Events name files by the absolute path of the watched directory; a deleted file cannot
/// be canonicalized, so its directory is.
fn event_path(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => absolute(dir).join(name),
        _ => path.to_path_buf(),
    }
}

/// Changed paths as a short title: relative to the working directory, at most three.
pub fn describe_changes(paths: &[PathBuf]) -> String {
    let cwd = std::env::current_dir().ok().map(|d| absolute(&d));
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            cwd.as_ref()
                .and_then(|cwd| p.strip_prefix(cwd).ok())
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect();
    match names.len() {
        0 => "no change".into(),
        1..=3 => names.join(", "),
        n => format!("{}, {} and {} more", names[0], names[1], n - 2),
    }
}
