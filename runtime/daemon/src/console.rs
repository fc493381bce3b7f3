//! The console (alert changes on stdout) on a thread of its own, fed from a bounded queue: a
//! stdout nobody reads (a full pipe) blocks that thread, never the engine. Changes that do not
//! fit are dropped from the console only (they still reach the API, routing and the audit
//! log), counted in `vigil_console_dropped_total`, and the first drop of each run of them is
//! logged.

use crate::metrics::Metrics;
use crate::worker::Sink;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vigil_engine::Transition;

/// Changes waiting for the console at most.
pub const QUEUE: usize = 4096;

/// The console's thread, to wait for on the way out.
pub struct Console {
    thread: Option<JoinHandle<()>>,
}

/// Starts printing with `print` on a thread; the sink to hand to the engine.
pub fn spawn(mut print: Sink, metrics: Arc<Metrics>) -> (Sink, Console) {
    let (tx, rx) = crossbeam_channel::bounded::<Transition>(QUEUE);
    let thread = std::thread::Builder::new()
        .name("vigil-console".into())
        .spawn(move || {
            for t in rx {
                print(&t);
            }
        });
    let thread = match thread {
        Ok(t) => t,
        Err(e) => {
            crate::log::error(&format!(
                "cannot start the console's thread ({e}); alert changes are not printed"
            ));
            return (Box::new(|_| {}), Console { thread: None });
        }
    };
    let mut dropping = false;
    let sink: Sink = Box::new(move |t| match tx.try_send(t.clone()) {
        Ok(()) => dropping = false,
        Err(_) => {
            metrics.console_dropped.inc();
            if !std::mem::replace(&mut dropping, true) {
                crate::log::error(
                    "stdout is not being read: alert changes are dropped from the console (they still reach the API, routing and the audit log; vigil_console_dropped_total counts them)",
                );
            }
        }
    });
    (
        sink,
        Console {
            thread: Some(thread),
        },
    )
}

impl Console {
    /// Waits (up to `most`) for the changes still queued to be printed, once the engine and
    /// with it the sink are gone; a stdout nobody reads does not hold up the exit.
    pub fn finish(mut self, most: Duration) {
        let Some(t) = self.thread.take() else {
            return;
        };
        let end = Instant::now() + most;
        while !t.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
}
