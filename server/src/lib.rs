//! The Portcullis admission server (`portcullis serve`): the engine behind HTTPS endpoints
//! that Kubernetes and other policy engines call.
//!
//! | endpoint | caller | in → out |
//! |---|---|---|
//! | `POST /validate` | ValidatingWebhookConfiguration | AdmissionReview → AdmissionReview (allowed, message, warnings) |
//! | `POST /mutate` | MutatingWebhookConfiguration | AdmissionReview → AdmissionReview with a JSONPatch pinning tags to digests |
//! | `POST /external-data` | Gatekeeper External Data | ProviderRequest (image references) → ProviderResponse |
//! | `POST /kyverno` | Kyverno `apiCall.service`, CEL `http` | an object or image list → `{allowed, findings}` |
//! | `GET /healthz`, `/readyz`, `/metrics` | kubelet, Prometheus | |
//!
//! The server is a shell: what to decide is the engine's ([`portcullis_engine::admission`]);
//! this crate owns only HTTP, TLS, deadlines, concurrency, reloading and metrics. The
//! policy comes from a [`Loader`] the caller supplies (the CLI's own rule, configuration and
//! facts loading), called again whenever a watched file changes.

mod endpoints;
mod images;
mod metrics;
mod reload;
mod review;
mod tls;
mod verdict;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use portcullis_engine::facts::{FactsFile, FactsIndex};
use portcullis_engine::{Config, Diagnostic, Policy, RuleSet, Selection, Severity};
use portcullis_facts::registry::RegistryOptions;
use tokio::sync::Semaphore;

pub use verdict::OnError;

/// Default for `--max-body`: 3 MiB, what the API server itself accepts for an object (etcd's
/// request limit is 1.5 MiB; a review carries the object and the old object).
pub const DEFAULT_MAX_BODY: usize = 3 << 20;
/// Default for `--deadline`: below the 10 s the deployment gives the API server
/// (`timeoutSeconds`), so that the server answers before the API server gives up.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// Certificate and key (PEM); `None` serves plain HTTP, which [`run`] allows on loopback
    /// addresses only.
    pub tls: Option<TlsFiles>,
    /// Findings at or above it deny; the rest are warnings.
    pub fail_on: Severity,
    /// What a request gets when it cannot be decided in time or at all.
    pub on_error: OnError,
    /// Per request, from the first byte read to the answer.
    pub deadline: Duration,
    /// Largest request body; larger ones get 413.
    pub max_body: usize,
    /// Evaluations at once; requests beyond it wait (within their deadline).
    pub max_concurrency: usize,
    /// Requests being handled at once; requests beyond it get 503 at once, so that a flood
    /// cannot hold memory for bodies that wait.
    pub max_in_flight: usize,
    /// Namespaces whose requests are allowed without evaluation (the server's own is added
    /// by the caller).
    pub exclude_namespaces: Vec<String>,
    /// Kinds (`Pod`, `Job`, …) whose requests are allowed without evaluation.
    pub exclude_kinds: Vec<String>,
    /// `/mutate` sets this pull policy on containers that name none.
    pub set_pull_policy: Option<String>,
    /// Files and directories whose changes reload the policy (rules, configuration, facts).
    pub watch: Vec<PathBuf>,
    /// `--pull-facts`: images without facts are looked up in their registry.
    pub registry: Option<RegistryOptions>,
    /// How long a client may take to send its headers and its body.
    pub read_timeout: Duration,
}

/// Where the certificate and the key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything a policy is made of, as the caller loaded it.
pub struct PolicySpec {
    pub rules: RuleSet,
    pub config: Config,
    pub selection: Selection,
    /// Image facts from `--image-facts`.
    pub facts: FactsFile,
    pub default_namespace: Option<String>,
}

impl PolicySpec {
    /// The policy over `facts` (the file's, plus what the server pulled).
    fn policy(&self, facts: FactsFile) -> Result<Policy, Vec<Diagnostic>> {
        let mut builder = Policy::builder(&self.rules)
            .config(self.config.clone())
            .selection(self.selection.clone())
            .image_facts(facts);
        if let Some(namespace) = &self.default_namespace {
            builder = builder.default_namespace(namespace);
        }
        builder.build()
    }
}

/// Loads the policy: called at start and on every change of a watched file. Errors are
/// messages naming file and line.
pub type Loader = Arc<dyn Fn() -> Result<PolicySpec, Vec<String>> + Send + Sync>;

/// The policy requests are evaluated with; replaced whole on reload, so a request keeps
/// the one it started with.
struct Current {
    spec: Arc<PolicySpec>,
    policy: Arc<Policy>,
    /// The facts the policy has: the file's and the pulled ones.
    facts: Arc<FactsIndex>,
    /// The longest the rules' own limits let one object's evaluation run (every rule at
    /// its time limit, plus reading the object); `None` without a time limit.
    worst_case: Option<Duration>,
}

/// What every handler shares.
struct App {
    options: Options,
    loader: Loader,
    current: RwLock<Option<Arc<Current>>>,
    installing: std::sync::Mutex<()>,
    images: images::Images,
    metrics: metrics::Metrics,
    evaluations: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
}

impl App {
    fn current(&self) -> Option<Arc<Current>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_current(&self, current: Current) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(current));
    }

    /// Builds the policy for `spec` (`None`: the current one's, to add facts pulled since)
    /// with the file's facts and everything pulled so far. One at a time, so that a rebuild
    /// for new facts never puts back the policy a reload just replaced.
    fn install(&self, spec: Option<Arc<PolicySpec>>) -> Result<(), Vec<String>> {
        let _one_at_a_time = self.installing.lock().unwrap_or_else(|p| p.into_inner());
        let spec = match spec.or_else(|| self.current().map(|c| c.spec.clone())) {
            Some(spec) => spec,
            None => return Err(vec!["no policy loaded yet".into()]),
        };
        let mut facts = spec.facts.clone();
        self.images.add_pulled_to(&mut facts);
        let index = FactsIndex::new(facts.clone());
        let policy = spec.policy(facts).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| p.to_string())
                .collect::<Vec<String>>()
        })?;
        let worst_case = spec.rules.limits().max_rule_time.map(|per_rule| {
            per_rule.saturating_mul(u32::try_from(policy.rule_ids().len()).unwrap_or(u32::MAX))
                + Duration::from_millis(100)
        });
        self.set_current(Current {
            spec,
            policy: Arc::new(policy),
            facts: Arc::new(index),
            worst_case,
        });
        Ok(())
    }
}

/// Runs the server until SIGTERM or Ctrl-C. Prints `listening on URL` on stderr once the
/// socket is bound. Fails at start (a bad address, certificate or policy) with a message.
pub fn run(options: Options, loader: Loader) -> Result<(), String> {
    if options.tls.is_none() && !options.listen.ip().is_loopback() {
        return Err(format!(
            "plain HTTP is only served on loopback addresses; {} needs --cert and --key",
            options.listen
        ));
    }
    // Evaluations of single objects run on the workers (endpoints::run_evaluation); one
    // worker more than evaluation slots keeps one free for everything else.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.max_concurrency.max(1) + 1)
        .enable_all()
        .thread_name("portcullis-serve")
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    runtime.block_on(serve(options, loader))
}

async fn serve(options: Options, loader: Loader) -> Result<(), String> {
    let tls_config = match &options.tls {
        Some(files) => Some(tls::load(files)?),
        None => None,
    };
    let app = Arc::new(App {
        metrics: metrics::Metrics::new(),
        images: images::Images::new(options.registry.clone()),
        evaluations: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
        in_flight: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
        current: RwLock::new(None),
        installing: std::sync::Mutex::new(()),
        loader,
        options,
    });
    let router = endpoints::router(app.clone());
    let handle = axum_server::Handle::new();
    let mut server_tls = None;
    let listen = app.options.listen;
    let serving = match tls_config {
        Some(config) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(config);
            server_tls = Some(config.clone());
            let mut server = axum_server::bind_rustls(listen, config).handle(handle.clone());
            configure_http(server.http_builder(), app.options.read_timeout);
            tokio::spawn(server.serve(router.into_make_service_with_connect_info::<SocketAddr>()))
        }
        None => {
            let mut server = axum_server::bind(listen).handle(handle.clone());
            configure_http(server.http_builder(), app.options.read_timeout);
            tokio::spawn(server.serve(router.into_make_service_with_connect_info::<SocketAddr>()))
        }
    };
    let Some(address) = handle.listening().await else {
        return match serving.await {
            Ok(Err(e)) => Err(format!("cannot listen on {listen}: {e}")),
            _ => Err(format!("cannot listen on {listen}")),
        };
    };
    let scheme = if app.options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!("portcullis: listening on {scheme}://{address}");

    // Rules compile after the socket is bound: /healthz answers at once, /readyz once the
    // policy is in place.
    let first = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || reload::load_policy(&app))
            .await
            .map_err(|e| format!("loading the policy failed: {e}"))?
    };
    if let Err(errors) = first {
        handle.shutdown();
        return Err(format!(
            "the policy did not load; nothing is served:\n{}",
            errors.join("\n")
        ));
    }
    log::info!("policy loaded; ready");
    let _watcher = reload::watch(app.clone(), server_tls)?;

    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        log::info!("shutting down: finishing requests in flight");
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    match serving.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the server stopped: {e}")),
        Err(e) => Err(format!("the server stopped: {e}")),
    }
}

/// Slow clients: headers must arrive within the read timeout (hyper's own timer), and
/// bodies are read with the same bound in the endpoints.
fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    read_timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_buf_size(64 << 10);
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
