//! Exemptions from configuration: each matcher field, expiry, and `*`.

use portcullis_engine::{Config, Date, Policy, Report, RuleSet, Selection};

const PODS: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  initContainers: [{name: init, image: 'busybox:1.36'}]
  containers: [{name: app, image: 'registry.company.com/shop/web:1.0'}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: dev-bob}
spec:
  template:
    spec:
      containers: [{name: app, image: 'nginx:1.27'}]
";

fn check(exemptions: &str, today: &str) -> Report {
    let config = Config::parse("p.yaml", &format!("exemptions:\n{exemptions}")).unwrap();
    let rules = RuleSet::builtin();
    let policy = Policy::builder(&rules)
        .config(config)
        .selection(Selection::only(["missing-digest"]))
        .today(Date::parse(today).unwrap())
        .build()
        .unwrap();
    let mut report = policy.check(&portcullis_engine::Source::from_text("pods.yaml", PODS));
    report.sort();
    report
}

fn exempted(report: &Report) -> Vec<String> {
    report
        .exempted
        .iter()
        .map(|f| {
            format!(
                "{}/{}",
                f.resource.name,
                f.container.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn image_patterns_select_containers() {
    let report = check(
        "  - {rule: missing-digest, image: 'registry.company.com/', reason: mirrored}\n",
        "2026-01-01",
    );
    assert_eq!(exempted(&report), ["web/app"]);
    assert_eq!(report.findings.len(), 2);
    let exemption = report.exempted[0].exemption.as_ref().unwrap();
    assert_eq!(exemption.reason, "mirrored");
    assert_eq!(
        exemption.source,
        portcullis_engine::ExemptionSource::Config { index: 0 }
    );
}

#[test]
fn namespace_name_and_kind_globs() {
    let by_namespace = check(
        "  - {rule: missing-digest, namespace: 'dev-*', reason: dev}\n",
        "2026-01-01",
    );
    assert_eq!(exempted(&by_namespace), ["api/app"]);
    let by_kind_and_name = check(
        "  - {rule: '*', kind: Pod, name: 'w?b', reason: legacy}\n",
        "2026-01-01",
    );
    assert_eq!(exempted(&by_kind_and_name), ["web/app", "web/init"]);
    let all_fields_must_match = check(
        "  - {rule: missing-digest, kind: Pod, namespace: 'dev-*', reason: none}\n",
        "2026-01-01",
    );
    assert!(exempted(&all_fields_must_match).is_empty());
}

#[test]
fn expiry_is_inclusive_of_the_day() {
    let waiver =
        "  - {rule: missing-digest, namespace: shop, reason: until, expires: 2026-06-30}\n";
    assert_eq!(exempted(&check(waiver, "2026-06-30")).len(), 2);
    assert!(exempted(&check(waiver, "2026-07-01")).is_empty());
}
