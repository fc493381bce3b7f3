//! Reload on a change to a rules file: the rule paths are watched (`notify`), changes are
//! debounced (an editor's save is several events; a `git checkout` many), and the rules are
//! reloaded as by `POST /api/v1/reload`: with errors the old rules keep running.

use crate::api::{AppState, reload_rules};
use notify::{RecursiveMode, Watcher};
use std::sync::Arc;
use std::time::Duration;

/// Quiet time after the last change before reloading.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// Starts watching `state.config.rules`; the watcher lives as long as the returned value.
pub fn start(state: &Arc<AppState>) -> Result<Option<notify::RecommendedWatcher>, String> {
    if state.config.rules.is_empty() || !state.config.watch_rules {
        return Ok(None);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && (ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove())
            && ev
                .paths
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "rules"))
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("cannot watch the rules: {e}"))?;
    for p in &state.config.rules {
        watcher
            .watch(p, RecursiveMode::Recursive)
            .map_err(|e| format!("cannot watch {}: {e}", p.display()))?;
    }
    let state = state.clone();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until the changes stop.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            let _ = reload_rules(&state).await;
        }
    });
    Ok(Some(watcher))
}
