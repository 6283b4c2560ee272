//! Reloading without a restart: rules, configuration and facts files, and the certificate.
//! Directories are watched, not files: Kubernetes updates a mounted Secret or ConfigMap by
//! swapping a `..data` symlink, which a watch on the file itself never sees. A version that
//! does not load is logged and counted, and the last good one keeps serving. Requests hold
//! the policy they started with, so none is dropped or sees half a reload.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use notify::{RecursiveMode, Watcher};

use crate::App;

/// Changes that come together (an editor's save, a symlink swap) reload once.
const SETTLE: Duration = Duration::from_millis(250);

/// Loads the policy and puts it in place; the errors when it does not load.
pub fn load_policy(app: &App) -> Result<(), Vec<String>> {
    let spec = (app.loader)()?;
    app.install(Some(Arc::new(spec)))
}

/// Starts watching; the watcher stops when the returned value is dropped.
pub fn watch(
    app: Arc<App>,
    tls: Option<RustlsConfig>,
) -> Result<notify::RecommendedWatcher, String> {
    let mut policy_files: Vec<PathBuf> = app.options.watch.clone();
    let tls_files: Vec<PathBuf> = app
        .options
        .tls
        .iter()
        .flat_map(|t| [t.cert.clone(), t.key.clone()])
        .collect();
    policy_files.retain(|p| !p.as_os_str().is_empty());
    // Absolute paths: events name what changed under the directory as watched, and a file
    // given as `portcullis.yaml` is watched through `.`.
    let absolute = |path: &PathBuf| {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match (std::fs::canonicalize(parent), path.file_name()) {
            (Ok(dir), Some(name)) => dir.join(name),
            _ => path.clone(),
        }
    };
    let policy_files: Vec<PathBuf> = policy_files.iter().map(absolute).collect();
    let tls_files: Vec<PathBuf> = tls_files.iter().map(absolute).collect();
    let (sender, receiver) = mpsc::channel::<Vec<PathBuf>>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = sender.send(event.paths);
        }
    })
    .map_err(|e| format!("cannot watch files for reloading: {e}"))?;
    let mut watched = BTreeSet::new();
    for path in policy_files.iter().chain(&tls_files) {
        let (target, mode) = if path.is_dir() {
            (path.clone(), RecursiveMode::Recursive)
        } else {
            let parent = path.parent().unwrap_or(Path::new("/"));
            (parent.to_path_buf(), RecursiveMode::NonRecursive)
        };
        if watched.insert(target.clone())
            && let Err(e) = watcher.watch(&target, mode)
        {
            log::warn!("{}: not watched for changes: {e}", target.display());
        }
    }
    let relevant = move |paths: &[PathBuf], files: &[PathBuf]| {
        paths.iter().any(|changed| {
            files.iter().any(|file| {
                changed.starts_with(file)
                    || (changed.parent() == file.parent()
                        && (changed.file_name() == file.file_name()
                            || changed
                                .file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with(".."))))
            })
        })
    };
    std::thread::Builder::new()
        .name("portcullis-reload".into())
        .spawn(move || {
            let mut last_tls = tls_files.iter().map(|f| std::fs::read(f).ok()).collect::<Vec<_>>();
            while let Ok(first) = receiver.recv() {
                let mut changed = first;
                // Settles, but a directory that never stops changing still reloads.
                let settling = std::time::Instant::now();
                while settling.elapsed() < SETTLE * 8
                    && let Ok(more) = receiver.recv_timeout(SETTLE)
                {
                    changed.extend(more);
                }
                log::debug!("reload: {changed:?}");
                if relevant(&changed, &policy_files) {
                    match load_policy(&app) {
                        Ok(()) => {
                            log::info!("policy reloaded");
                            app.metrics.reload("policy", true);
                        }
                        Err(errors) => {
                            log::error!(
                                "the changed policy does not load; the last good one stays in use: {}",
                                errors.join("; ")
                            );
                            app.metrics.reload("policy", false);
                        }
                    }
                }
                if let (Some(config), Some(files)) = (&tls, &app.options.tls) {
                    let now = tls_files.iter().map(|f| std::fs::read(f).ok()).collect::<Vec<_>>();
                    if now != last_tls {
                        match crate::tls::load(files) {
                            Ok(new) => {
                                config.reload_from_config(new);
                                log::info!("certificate reloaded");
                                app.metrics.reload("certificate", true);
                                last_tls = now;
                            }
                            Err(e) => {
                                // Half-written pairs settle on the next event.
                                log::error!("the changed certificate does not load; the last good one stays in use: {e}");
                                app.metrics.reload("certificate", false);
                            }
                        }
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the reload thread: {e}"))?;
    Ok(watcher)
}
