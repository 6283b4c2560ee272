//! Throughput of `check` over the generated corpus of 2,000 Deployments, and the
//! per-document cost split into parse / normalize / evaluate. Numbers: docs/benchmarks.md.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_engine::load::{self, Loaded};
use portcullis_engine::workload::{Normalized, normalize};
use portcullis_engine::{Config, Date, Policy, Report, RuleSet, Selection, Workload};

const DOCS: usize = 2000;

// The same allocator as the `portcullis` binary, so the numbers match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn loaded_objects(text: &str) -> Vec<load::LoadedObject> {
    load::split_yaml_documents(text)
        .iter()
        .flat_map(|doc| load::load_yaml_document("corpus.yaml", doc))
        .filter_map(|item| match item {
            Loaded::Object(o) => Some(o),
            _ => None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let text = portcullis_tests::corpus::stream(DOCS);
    let rules = RuleSet::builtin();
    let policy = portcullis_tests::default_policy(&rules);
    let objects = loaded_objects(&text);
    let workloads: Vec<Arc<Workload>> = objects
        .iter()
        .cloned()
        .map(|o| match normalize(o) {
            Normalized::Workload(w) => Arc::from(w),
            other => panic!("corpus document did not normalize: {other:?}"),
        })
        .collect();
    assert_eq!(workloads.len(), DOCS);

    let mut group = c.benchmark_group("corpus-2000");
    group.throughput(Throughput::Elements(DOCS as u64));
    group.sample_size(10);
    group.bench_function("parse", |b| b.iter(|| loaded_objects(&text)));
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
        let selection = Selection {
            select: Some(vec![id.to_string()]),
            ignore: Vec::new(),
        };
        let one = Policy::new(&rules, &Config::default(), &selection, Date::today()).unwrap();
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
