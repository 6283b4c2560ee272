//! Evaluates the corpus once, for profilers (`valgrind --tool=callgrind`):
//! `eval-profile [N] [RULE]` (N Deployments, default 500; only RULE when given).
use std::sync::Arc;

use portcullis_engine::load::{self, Loaded};
use portcullis_engine::workload::{Normalized, normalize};
use portcullis_engine::{Report, RuleSet};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args().nth(1).map_or(500, |s| s.parse().unwrap());
    let text = portcullis_tests::corpus::stream(n);
    let rules = RuleSet::builtin();
    let policy = match std::env::args().nth(2) {
        Some(rule) => {
            let selection = portcullis_engine::Selection {
                select: Some(vec![rule]),
                ignore: Vec::new(),
            };
            let config = portcullis_engine::Config::default();
            let today = portcullis_engine::Date::today();
            portcullis_engine::Policy::new(&rules, &config, &selection, today).unwrap()
        }
        None => portcullis_tests::default_policy(&rules),
    };
    let workloads: Vec<Arc<portcullis_engine::Workload>> = load::split_yaml_documents(&text)
        .iter()
        .flat_map(|d| load::load_yaml_document("c.yaml", d))
        .filter_map(|i| match i {
            Loaded::Object(o) => match normalize(o) {
                Normalized::Workload(w) => Some(Arc::from(w)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut report = Report::default();
    for w in &workloads {
        policy.check_workload(w.clone(), "c.yaml", &mut report);
    }
    println!("{} findings", report.findings.len());
}
