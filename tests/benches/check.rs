//! Throughput of `check` over the generated corpus of 2,000 Deployments, and the
//! per-document cost split into load (parse + normalize) and evaluate. Numbers:
//! docs/benchmarks.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_engine::{RuleSet, Source};
use portcullis_tests::corpus;

const DOCS: usize = 2000;

// The same allocator as the `portcullis` binary, so the numbers match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let text = corpus::stream(DOCS);
    let rules = RuleSet::builtin();
    let policy = portcullis_tests::default_policy(&rules);
    let workloads = corpus::workloads(&text);
    assert_eq!(workloads.len(), DOCS);
    let source = Source::from_text("corpus.yaml", text.clone());

    let mut group = c.benchmark_group("corpus-2000");
    group.throughput(Throughput::Elements(DOCS as u64));
    group.sample_size(10);
    group.bench_function("load", |b| b.iter(|| source.load()));
    // Rules only: the workloads are loaded once, so parsing is not counted here (it is in
    // the end-to-end numbers).
    group.bench_function("evaluate", |b| {
        b.iter(|| policy.check_workloads(&workloads))
    });
    // Each rule alone, to see where evaluation time goes.
    for rule in rules.rules() {
        let id = rule.meta.id.as_str();
        let one = portcullis_tests::single_rule_policy(&rules, id);
        group.bench_function(format!("evaluate/{id}"), |b| {
            b.iter(|| one.check_workloads(&workloads))
        });
    }
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    group.bench_function("check-1-thread", |b| {
        b.iter(|| single.install(|| policy.check(&source)))
    });
    group.bench_function("check-all-cores", |b| b.iter(|| policy.check(&source)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
