//! Reload on a change to a rules file or to a file a list is read from (`list x =
//! file("...")`, threat feeds and allow-lists that other tools rewrite): the rule paths and the
//! lists' folders are watched (`notify`), changes are debounced (an editor's save is several
//! events; a `git checkout` or a feed download many). A list the rules only test fields
//! against is re-read into the running rules (`reload_lists`: no recompile, state untouched); a
//! rules file, or a file whose contents are compiled into the rules, reloads them as
//! `POST /api/v1/reload` does. Either way a missing or malformed file keeps what was running
//! (the rules, the list's previous contents), and the failure is reported and counted.

use crate::api::{AppState, reload_lists, reload_rules};
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

/// A file by its folder (resolved, so `a/../b` and `b` agree) and name: a feed replaced by a
/// rename shows up under its folder.
type Key = (PathBuf, std::ffi::OsString);

/// The list files followed.
type Lists = Arc<Mutex<HashSet<Key>>>;

/// What changed: a rules file, or a list file.
enum Change {
    Rules,
    List(Key),
}

/// Starts watching the configured rule paths and the current rules' list files.
pub fn start(state: &Arc<AppState>) -> Result<Option<Arc<Mutex<Watching>>>, String> {
    if !state.config.watch_rules {
        return Ok(None);
    }
    let lists: Lists = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
    let seen = lists.clone();
    let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if !(ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove()) {
            return;
        }
        for p in &ev.paths {
            if p.extension().is_some_and(|e| e == "rules") {
                let _ = tx.send(Change::Rules);
            } else if let Some(k) = key(p)
                && seen.lock().is_ok_and(|l| l.contains(&k))
            {
                let _ = tx.send(Change::List(k));
            }
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
        let (mut rules, mut changed) = (false, HashSet::new());
        while let Some(first) = rx.recv().await {
            // Wait until the changes stop.
            let mut next = Some(first);
            while let Some(c) = next {
                match c {
                    Change::Rules => rules = true,
                    Change::List(k) => {
                        changed.insert(k);
                    }
                }
                next = tokio::time::timeout(DEBOUNCE, rx.recv())
                    .await
                    .ok()
                    .flatten();
            }
            let compiled: HashSet<_> = (reloads.running().ir().list_files.iter())
                .filter_map(|f| key(f))
                .collect();
            if std::mem::take(&mut rules) || changed.iter().any(|k| compiled.contains(k)) {
                changed.clear();
                let _ = reload_rules(&reloads).await;
                continue;
            }
            let changed = std::mem::take(&mut changed);
            reload_lists(&reloads, &|p| key(p).is_some_and(|k| changed.contains(&k))).await;
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

fn key(p: &Path) -> Option<Key> {
    let folder = p.parent()?.canonicalize().ok()?;
    Some((folder, p.file_name()?.to_os_string()))
}
