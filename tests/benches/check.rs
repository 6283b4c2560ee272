//! Throughput of `check` over the generated corpus of 2,000 Deployments, and the
//! per-document cost split into parse / normalize / evaluate. Numbers: docs/benchmarks.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_engine::workload::normalize;
use portcullis_engine::{Report, RuleSet};
use portcullis_tests::corpus;

const DOCS: usize = 2000;

// The same allocator as the `portcullis` binary, so the numbers match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let text = corpus::stream(DOCS);
    let rules = RuleSet::builtin();
    let policy = portcullis_tests::default_policy(&rules);
    let objects = corpus::loaded_objects(&text);
    let workloads = corpus::workloads(&objects);
    assert_eq!(workloads.len(), DOCS);

    let mut group = c.benchmark_group("corpus-2000");
    group.throughput(Throughput::Elements(DOCS as u64));
    group.sample_size(10);
    group.bench_function("parse", |b| b.iter(|| corpus::loaded_objects(&text)));
    group.bench_function("normalize", |b| {
        b.iter_batched(
            || objects.clone(),
            |objects| objects.into_iter().map(normalize).count(),
            criterion::BatchSize::LargeInput,
        )
    });
    // Rules only: the workloads are shared, so freeing the parsed documents is not counted
    // here (it is part of parse/normalize in the end-to-end numbers).
    group.bench_function("evaluate", |b| {
        b.iter(|| {
            let mut report = Report::default();
            for w in &workloads {
                policy.check_workload(w.clone(), "corpus.yaml", &mut report);
            }
            report
        })
    });
    // Each rule alone, to see where evaluation time goes.
    for rule in rules.rules() {
        let id = rule.meta.id.as_str();
        let one = portcullis_tests::single_rule_policy(&rules, id);
        group.bench_function(format!("evaluate/{id}"), |b| {
            b.iter(|| {
                let mut report = Report::default();
                for w in &workloads {
                    one.check_workload(w.clone(), "corpus.yaml", &mut report);
                }
                report
            })
        });
    }
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    group.bench_function("check-1-thread", |b| {
        b.iter(|| single.install(|| policy.check_source("corpus.yaml", &text)))
    });
    group.bench_function("check-all-cores", |b| {
        b.iter(|| policy.check_source("corpus.yaml", &text))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
