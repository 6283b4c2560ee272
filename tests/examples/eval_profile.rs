//! Evaluates the corpus once, for profilers (`valgrind --tool=callgrind`):
//! `eval_profile [N] [RULE]` (N Deployments, default 500; only RULE when given).
use portcullis_engine::RuleSet;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args().nth(1).map_or(500, |s| s.parse().unwrap());
    let text = portcullis_tests::corpus::stream(n);
    let rules = RuleSet::builtin();
    let policy = match std::env::args().nth(2) {
        Some(rule) => portcullis_tests::single_rule_policy(&rules, &rule),
        None => portcullis_tests::default_policy(&rules),
    };
    let workloads = portcullis_tests::corpus::workloads(&text);
    let report = policy.check_workloads(&workloads);
    println!("{} findings", report.findings.len());
}
