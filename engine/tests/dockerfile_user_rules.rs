//! Rules written by users (not the default pack) see where a subject came from and read a
//! Dockerfile's instructions through the documented rule API.

use portcullis_engine::{Policy, Report, RuleSet, Selection, Source};

/// Names each subject's origin, and flags `curl … | sh` in a `RUN` at its line.
const ORIGIN_RULE: &str = r#"
const META = #{
    id: "pipe-to-shell",
    inputs: ["manifests", "dockerfiles"],
    title: "Downloads piped into a shell",
    severity: "low",
    remediation: "Download, verify, then run.",
};

fn check(workload, settings) {
    let findings = [];
    for c in workload.containers {
        if workload.dockerfile == () {
            findings.push(finding(c, `manifest ${workload.kind}, role ${c.role}, image ${c.image.kind}`));
            continue;
        }
        let stage = c.stage;
        findings.push(finding(c, `Dockerfile stage ${stage.index}, role ${c.role}, image ${c.image.kind}, ${workload.dockerfile.stages.len()} stages, syntax ${workload.dockerfile.directives["syntax"]}`));
        let at = 0;
        for instruction in stage.instructions {
            if instruction.keyword == "RUN" && instruction.args.len() > 0
                && instruction.args[0].contains("curl") && instruction.args[0].contains("| sh") {
                findings.push(finding(c, `${instruction.keyword} at line ${instruction.line} pipes a download into a shell`, `instructions[${at}]`));
            }
            at += 1;
        }
    }
    findings
}
"#;

/// Says nothing about `inputs`: written for pods, it must never be handed a Dockerfile.
const MANIFEST_ONLY_RULE: &str = r#"
const META = #{ id: "pods-only", title: "Sees pods", severity: "low", remediation: "-" };
fn check(workload, settings) {
    let findings = [];
    for c in workload.containers { findings.push(finding(c, `saw ${workload.kind}`)); }
    findings
}
"#;

const DOCKERFILE: &str = "\
# syntax=docker/dockerfile:1
FROM golang:1.23 AS build
RUN curl -fsSL https://example.com/install.sh | sh
FROM build AS test
FROM scratch
COPY --from=build /out /app
";

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: app, image: 'nginx:1.27'}]
";

fn check(source: &Source) -> Report {
    let mut rules = RuleSet::empty();
    rules
        .add_source("pipe-to-shell.rhai", ORIGIN_RULE, None)
        .unwrap();
    rules
        .add_source("pods-only.rhai", MANIFEST_ONLY_RULE, None)
        .unwrap();
    let policy = Policy::builder(&rules)
        .selection(Selection::all())
        .build()
        .unwrap();
    let mut report = policy.check(source);
    report.sort();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

fn rows(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {:?} {}",
                f.rule,
                f.container.as_deref().unwrap_or("-"),
                f.path,
                f.line,
                f.message
            )
        })
        .collect()
}

#[test]
fn a_user_rule_tells_dockerfiles_from_manifests_and_reads_instructions() {
    let dockerfile = check(&Source::from_text("build/Dockerfile", DOCKERFILE));
    assert_eq!(
        rows(&dockerfile),
        vec![
            "pipe-to-shell 2 stages[2] Some(5) Dockerfile stage 2, role final, image scratch, 3 stages, syntax docker/dockerfile:1",
            "pipe-to-shell build stages[0] Some(2) Dockerfile stage 0, role stage, image registry, 3 stages, syntax docker/dockerfile:1",
            "pipe-to-shell build stages[0].instructions[0] Some(3) RUN at line 3 pipes a download into a shell",
            "pipe-to-shell test stages[1] Some(4) Dockerfile stage 1, role stage, image stage, 3 stages, syntax docker/dockerfile:1",
        ]
    );
    assert!(
        dockerfile
            .findings
            .iter()
            .all(|f| f.resource.kind == "Dockerfile")
    );

    let pod = check(&Source::from_text("pod.yaml", POD));
    assert_eq!(
        rows(&pod),
        vec![
            "pipe-to-shell app spec.containers[0] None manifest Pod, role app, image registry",
            "pods-only app spec.containers[0] None saw Pod",
        ]
    );
}
