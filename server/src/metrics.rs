//! `/metrics`, Prometheus text format. Label values come from a closed set (endpoints,
//! decisions, loaded rule ids), never from requests, so the series stay bounded.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    findings: Family<Labels, Counter>,
    rule_errors: Family<Labels, Counter>,
    reloads: Family<Labels, Counter>,
    facts_lookups: Family<Labels, Counter>,
    in_flight: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            // 0.25 ms … 8 s.
            Histogram::new(exponential_buckets(0.00025, 2.0, 16))
        });
        let findings = Family::<Labels, Counter>::default();
        let rule_errors = Family::<Labels, Counter>::default();
        let reloads = Family::<Labels, Counter>::default();
        let facts_lookups = Family::<Labels, Counter>::default();
        let in_flight = Gauge::default();
        registry.register(
            "requests",
            "Requests answered, by endpoint and decision; dry_run=\"true\" marks dry-run admission requests, which enforce nothing",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's arrival to its answer",
            latency.clone(),
        );
        registry.register(
            "findings",
            "Findings in answered admission requests, by rule",
            findings.clone(),
        );
        registry.register(
            "rule_errors",
            "Rule runs that failed (an error, the operation or time limit), by rule",
            rule_errors.clone(),
        );
        registry.register(
            "reloads",
            "Policy and certificate reloads, by what was reloaded and whether it worked; a failed one keeps the last good version",
            reloads.clone(),
        );
        registry.register(
            "facts_lookups",
            "Image facts wanted by requests: hit (known), miss (looked up in the registry), failed",
            facts_lookups.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests being handled",
            in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            findings,
            rule_errors,
            reloads,
            facts_lookups,
            in_flight,
        }
    }

    pub fn request(
        &self,
        endpoint: &'static str,
        decision: &'static str,
        dry_run: bool,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&vec![
                ("endpoint", endpoint.to_string()),
                ("decision", decision.to_string()),
                ("dry_run", dry_run.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("endpoint", endpoint.to_string())])
            .observe(seconds);
    }

    pub fn finding(&self, rule: &str) {
        self.findings
            .get_or_create(&vec![("rule", rule.to_string())])
            .inc();
    }

    pub fn rule_error(&self, rule: &str) {
        self.rule_errors
            .get_or_create(&vec![("rule", rule.to_string())])
            .inc();
    }

    pub fn reload(&self, what: &'static str, ok: bool) {
        self.reloads
            .get_or_create(&vec![
                ("what", what.to_string()),
                ("result", if ok { "ok" } else { "failed" }.to_string()),
            ])
            .inc();
    }

    pub fn facts_lookup(&self, result: &'static str) {
        self.facts_lookups
            .get_or_create(&vec![("result", result.to_string())])
            .inc();
    }

    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
