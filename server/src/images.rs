//! Image facts the server looks up itself (`--pull-facts`): each image once, shared by the
//! requests that wait for it, cached for a while (failures for less), bounded in number
//! and in concurrent registry sessions. A lookup that outlives its request's deadline goes
//! on in the background and serves the next request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_engine::facts::{FactsFile, ImageFacts};
use portcullis_facts::registry::RegistryOptions;
use tokio::sync::{OnceCell, Semaphore};

/// How long facts looked up are trusted: tags move.
const FRESH: Duration = Duration::from_secs(600);
/// How long a failed lookup is remembered before it is tried again.
const FAILED_FRESH: Duration = Duration::from_secs(30);
/// Images remembered; past it the cache starts afresh.
const MAX_IMAGES: usize = 4096;
/// Registry sessions at once.
const MAX_PULLS: usize = 4;

type Outcome = Result<(String, ImageFacts), String>;

struct Entry {
    started: Instant,
    result: Arc<OnceCell<Outcome>>,
}

/// What is known and being looked up.
pub struct Images {
    registry: Option<RegistryOptions>,
    entries: Mutex<HashMap<String, Entry>>,
    pulls: Arc<Semaphore>,
}

/// How one image's lookup went.
pub enum Lookup {
    /// Facts were found (now or by an earlier request).
    Found,
    /// A cached failure or a fresh one: the message.
    Failed(String),
    /// The deadline came first.
    TimedOut,
}

impl Images {
    pub fn new(registry: Option<RegistryOptions>) -> Images {
        Images {
            registry,
            entries: Mutex::new(HashMap::new()),
            pulls: Arc::new(Semaphore::new(MAX_PULLS)),
        }
    }

    pub fn enabled(&self) -> bool {
        self.registry.is_some()
    }

    /// Adds every fresh fact looked up to `facts`.
    pub fn add_pulled_to(&self, facts: &mut FactsFile) {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for entry in entries.values() {
            if entry.started.elapsed() < FRESH
                && let Some(Ok((digest, image))) = entry.result.get()
            {
                facts.insert(digest.clone(), image.clone());
            }
        }
    }

    /// Looks `reference` up, waiting at most until `deadline`. The second value says
    /// whether the cache already had the answer.
    pub async fn lookup(&self, reference: &str, deadline: Instant) -> (Lookup, bool) {
        let Some(options) = &self.registry else {
            return (Lookup::Failed("registry lookups are off".into()), true);
        };
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let stale = entries.get(reference).is_some_and(|entry| {
                let age = entry.started.elapsed();
                match entry.result.get() {
                    Some(Ok(_)) => age >= FRESH,
                    Some(Err(_)) => age >= FAILED_FRESH,
                    None => false,
                }
            });
            if stale {
                entries.remove(reference);
            }
            if entries.len() >= MAX_IMAGES && !entries.contains_key(reference) {
                entries.retain(|_, entry| entry.result.get().is_none());
            }
            entries
                .entry(reference.to_string())
                .or_insert_with(|| Entry {
                    started: Instant::now(),
                    result: Arc::new(OnceCell::new()),
                })
                .result
                .clone()
        };
        if let Some(outcome) = cell.get() {
            return (to_lookup(outcome), true);
        }
        let task = {
            let cell = cell.clone();
            let options = options.clone();
            let pulls = self.pulls.clone();
            let reference = reference.to_string();
            tokio::spawn(async move {
                cell.get_or_init(|| async move {
                    let Ok(_permit) = pulls.acquire_owned().await else {
                        return Err("the server is shutting down".to_string());
                    };
                    let label = reference.clone();
                    tokio::task::spawn_blocking(move || {
                        portcullis_facts::registry::collect(&[reference], &options)
                            .pop()
                            .map_or_else(|| Err("no answer".to_string()), |c| c.result)
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("{label}: lookup failed: {e}")))
                })
                .await;
            })
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, task).await {
            Ok(_) => match cell.get() {
                Some(outcome) => (to_lookup(outcome), false),
                None => (
                    Lookup::Failed("lookup ended without an answer".into()),
                    false,
                ),
            },
            Err(_) => (Lookup::TimedOut, false),
        }
    }
}

fn to_lookup(outcome: &Outcome) -> Lookup {
    match outcome {
        Ok(_) => Lookup::Found,
        Err(message) => Lookup::Failed(message.clone()),
    }
}
