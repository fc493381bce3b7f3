//! Reload on a change to a rules file or to a file a list is read from (`list x =
//! file("...")`, threat feeds and allow-lists that other tools rewrite): the rule paths and the
//! lists' folders are watched (`notify`), changes are debounced (an editor's save is several
//! events; a `git checkout` or a feed download many), and the rules are reloaded as by
//! `POST /api/v1/reload`: with errors (a missing or malformed list file too) the old rules and
//! the lists' previous contents keep running, and the failure is reported and counted.

use crate::api::{AppState, reload_rules};
use notify::{RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Quiet time after the last change before reloading.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// The watcher and what it watches; lives as long as the daemon serves.
pub struct Watching {
    watcher: notify::RecommendedWatcher,
    /// Folders watched for list files (each once), and the rule paths (watched recursively,
    /// so list files under them need no watch of their own).
    folders: HashSet<PathBuf>,
    rules: Vec<PathBuf>,
}

/// List files by folder and name: a feed replaced by a rename shows up under its folder.
type Lists = Arc<Mutex<HashSet<(PathBuf, std::ffi::OsString)>>>;

/// Starts watching the configured rule paths and the current rules' list files.
pub fn start(state: &Arc<AppState>) -> Result<Option<Arc<Mutex<Watching>>>, String> {
    if !state.config.watch_rules {
        return Ok(None);
    }
    let lists: Lists = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let seen = lists.clone();
    let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && (ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove())
            && ev.paths.iter().any(|p| {
                p.extension().is_some_and(|e| e == "rules")
                    || key(p).is_some_and(|k| seen.lock().is_ok_and(|l| l.contains(&k)))
            })
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("cannot watch the rules: {e}"))?;
    let watching = Arc::new(Mutex::new(Watching {
        watcher,
        folders: HashSet::new(),
        rules: (state.config.rules.iter())
            .filter_map(|p| p.canonicalize().ok())
            .collect(),
    }));
    if let Ok(mut w) = watching.lock() {
        for p in &state.config.rules {
            w.watcher
                .watch(p, RecursiveMode::Recursive)
                .map_err(|e| format!("cannot watch {}: {e}", p.display()))?;
        }
    }
    follow_lists(&watching, &lists, &state.list_files());
    let reloads = state.clone();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until the changes stop.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            let _ = reload_rules(&reloads).await;
        }
    });
    // Rules reloaded by any means (a change, SIGHUP, the API) may read other list files.
    let (state, handle) = (state.clone(), watching.clone());
    tokio::spawn(async move {
        loop {
            state.reloaded.notified().await;
            follow_lists(&handle, &lists, &state.list_files());
        }
    });
    Ok(Some(watching))
}

/// Watches the folder of each list file (a folder that cannot be watched is logged: its
/// list then changes only with a reload).
fn follow_lists(watching: &Mutex<Watching>, lists: &Lists, files: &[PathBuf]) {
    let keys: HashSet<_> = files.iter().filter_map(|f| key(f)).collect();
    let Ok(mut w) = watching.lock() else { return };
    for (folder, _) in &keys {
        if w.folders.contains(folder) || w.rules.iter().any(|r| folder.starts_with(r)) {
            continue;
        }
        match w.watcher.watch(folder, RecursiveMode::NonRecursive) {
            Ok(()) => {
                w.folders.insert(folder.clone());
            }
            Err(e) => crate::log::error(&format!(
                "cannot watch {} for list files: {e}",
                folder.display()
            )),
        }
    }
    if let Ok(mut l) = lists.lock() {
        *l = keys;
    }
}

/// A file's folder (resolved, so `a/../b` and `b` agree) and name.
fn key(p: &Path) -> Option<(PathBuf, std::ffi::OsString)> {
    let folder = p.parent()?.canonicalize().ok()?;
    Some((folder, p.file_name()?.to_os_string()))
}
