//! Image facts end to end, offline: `check --image-facts` with a facts file, the five image
//! rules firing and staying quiet, and facts files that cannot be used.

use std::process::{Command, Output};

use portcullis_tests::{finding_keys, portcullis_binary, scratch_dir, workspace_root};
use serde_json::Value;

const IMAGE_RULES: &str =
    "vulnerable-image,secret-in-image,non-minimal-image,image-runs-as-root,unscanned-image";

fn run(args: &[&str]) -> Output {
    Command::new(portcullis_binary())
        .args(args)
        .current_dir(workspace_root())
        .env_remove("NO_COLOR")
        .output()
        .expect("portcullis runs")
}

fn findings(output: &Output) -> Vec<(String, String)> {
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut found: Vec<(String, String)> = finding_keys(&report)
        .into_iter()
        .map(|(rule, name, _)| (rule, name))
        .collect();
    found.sort();
    found
}

#[test]
fn each_image_rule_fires_and_stays_quiet_from_a_facts_file() {
    let output = run(&[
        "check",
        "tests/fixtures/facts/workloads.yaml",
        "--image-facts",
        "tests/fixtures/facts/image-facts.json",
        "--select",
        IMAGE_RULES,
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    // `api` is a root Debian image with a token in ENV and a critical CVE; `static` is a
    // scanned, clean distroless image whose pod forces non-root: quiet on every rule.
    let expected: Vec<(String, String)> = [
        "image-runs-as-root",
        "non-minimal-image",
        "secret-in-image",
        "vulnerable-image",
    ]
    .iter()
    .map(|r| (r.to_string(), "api".to_string()))
    .collect();
    assert_eq!(findings(&output), expected);
}

#[test]
fn without_facts_only_unscanned_image_speaks_and_only_when_enabled() {
    let default = run(&[
        "check",
        "tests/fixtures/facts/workloads.yaml",
        "--format",
        "json",
    ]);
    let image_rules: Vec<_> = findings(&default)
        .into_iter()
        .filter(|(rule, _)| IMAGE_RULES.split(',').any(|r| r == rule))
        .collect();
    assert!(image_rules.is_empty(), "{image_rules:?}");

    let selected = run(&[
        "check",
        "tests/fixtures/facts/workloads.yaml",
        "--select",
        IMAGE_RULES,
        "--format",
        "json",
    ]);
    assert_eq!(
        findings(&selected),
        vec![
            ("unscanned-image".to_string(), "api".to_string()),
            ("unscanned-image".to_string(), "static".to_string()),
        ]
    );
}

#[test]
fn unusable_facts_files_stop_the_run_with_a_clear_error() {
    let dir = scratch_dir("facts-bad-files");
    let newer = dir.join("newer.json");
    std::fs::write(
        &newer,
        r#"{"format": "portcullis-image-facts", "version": 9, "images": {}}"#,
    )
    .unwrap();
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let missing = dir.join("missing.json");
    let string_version = dir.join("string-version.json");
    std::fs::write(
        &string_version,
        r#"{"format": "portcullis-image-facts", "version": "1", "images": {}}"#,
    )
    .unwrap();
    for (path, message) in [
        (
            &string_version,
            "`version` is the string `\"1\"`; expected the number 2",
        ),
        (&newer, "facts file version 9 is not supported"),
        (&garbage, "not a facts file"),
        (&missing, "cannot read image facts"),
    ] {
        let output = run(&[
            "check",
            "tests/fixtures/facts/workloads.yaml",
            "--image-facts",
            path.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn trivy_and_grype_reports_merge_into_one_image() {
    let dir = scratch_dir("facts-scans");
    let out = dir.join("scans.json");
    let output = run(&[
        "facts",
        "collect",
        "--trivy",
        "tests/fixtures/facts/trivy-report.json",
        "--grype",
        "tests/fixtures/facts/grype-report.json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let file = portcullis_engine::facts::FactsFile::parse(&std::fs::read_to_string(&out).unwrap())
        .unwrap();
    assert_eq!(file.images.len(), 1, "{file:#?}");
    let facts =
        &file.images["sha256:1111111111111111111111111111111111111111111111111111111111111111"];
    let scan = facts.scan.as_ref().unwrap();
    let names: Vec<&str> = scan.scanners.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["grype", "trivy"]);
    let vulns: Vec<(&str, Option<&str>, &str)> = scan
        .vulnerabilities
        .iter()
        .map(|v| (v.id.as_str(), v.fixed.as_deref(), v.severity.as_str()))
        .collect();
    // CVE-2023-4911 is in both reports: one entry, Trivy's first fixed version.
    assert_eq!(
        vulns,
        vec![
            ("CVE-2011-3374", None, "low"),
            ("CVE-2023-4911", Some("2.36-9+deb12u3"), "high"),
            ("CVE-2024-6387", Some("1:9.2p1-2+deb12u3"), "critical"),
            ("CVE-2024-9999", None, "critical"),
        ]
    );
    let secrets = scan.secrets.as_ref().unwrap();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].path, "/app/.env");
    assert!(
        facts
            .references
            .contains("registry.company.com/shop/api:1.4.2")
    );

    // The merged facts drive the rules offline: by tag and by digest.
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: api}\nspec:\n  containers:\n  - {name: app, image: \"registry.company.com/shop/api:1.4.2\"}\n",
    )
    .unwrap();
    let checked = run(&[
        "check",
        manifest.to_str().unwrap(),
        "--image-facts",
        out.to_str().unwrap(),
        "--select",
        IMAGE_RULES,
        "--format",
        "json",
    ]);
    assert_eq!(
        findings(&checked),
        vec![
            ("secret-in-image".to_string(), "api".to_string()),
            ("vulnerable-image".to_string(), "api".to_string()),
        ]
    );
}

/// Issue 16: Clair's and Snyk's findings gate `vulnerable-image` as Trivy's do, under the same
/// `max-severity` setting. Clair names the image by manifest digest; Snyk only by reference, so
/// its report is merged into a facts file that already knows the image.
#[test]
fn clair_and_snyk_reports_gate_vulnerable_image_like_trivys() {
    let dir = scratch_dir("facts-clair-snyk");
    let clair_facts = dir.join("clair.json");
    let collected = run(&[
        "facts",
        "collect",
        "--clair",
        "tests/fixtures/facts/clair/claircore-ubuntu-18.04.report.json",
        "--clair",
        "tests/fixtures/facts/clair/claircore-amazonlinux-1.report.json",
        "-o",
        clair_facts.to_str().unwrap(),
    ]);
    assert_eq!(
        collected.status.code(),
        Some(0),
        "{}",
        stderr_of(&collected)
    );

    // The ubuntu report's worst fixed vulnerabilities are High, the amazonlinux one's Medium.
    let pods = dir.join("pods.yaml");
    std::fs::write(
        &pods,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: ubuntu}\nspec:\n  containers:\n  - {name: app, image: \"ubuntu@sha256:b58746c8a89938b8c9f5b77de3b8cf1fe78210c696ab03a1442e235eea65d84f\"}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: amazonlinux}\nspec:\n  containers:\n  - {name: app, image: \"amazonlinux@sha256:548e328ccb1bbbad1dbda7f99ffaefd4483824631e5320dbe11f9e49b4761c67\"}\n",
    )
    .unwrap();
    let vulnerable = |pods: &std::path::Path, facts: &std::path::Path, max: &str| {
        let config = dir.join(format!("max-{max}.yaml"));
        std::fs::write(
            &config,
            format!("rules:\n  vulnerable-image:\n    max-severity: {max}\n"),
        )
        .unwrap();
        let output = run(&[
            "check",
            pods.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--image-facts",
            facts.to_str().unwrap(),
            "--select",
            "vulnerable-image,unscanned-image",
            "--format",
            "json",
        ]);
        assert_ne!(output.status.code(), Some(2), "{}", stderr_of(&output));
        findings(&output)
            .into_iter()
            .map(|(rule, name)| format!("{rule} {name}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        vulnerable(&pods, &clair_facts, "critical"),
        Vec::<String>::new()
    );
    assert_eq!(
        vulnerable(&pods, &clair_facts, "high"),
        vec!["vulnerable-image ubuntu"]
    );
    assert_eq!(
        vulnerable(&pods, &clair_facts, "medium"),
        vec!["vulnerable-image amazonlinux", "vulnerable-image ubuntu"]
    );

    // Snyk: the image is known by reference from an earlier collection.
    let snyk_facts = dir.join("snyk.json");
    let mut known = portcullis_engine::facts::FactsFile::default();
    known.insert(
        format!("sha256:{}", "ab".repeat(32)),
        portcullis_engine::facts::ImageFacts {
            references: ["docker.io/sarim04/juiceshop:latest".to_string()].into(),
            ..Default::default()
        },
    );
    std::fs::write(&snyk_facts, known.to_json()).unwrap();
    let merged = run(&[
        "facts",
        "collect",
        "--snyk",
        "tests/fixtures/facts/snyk/snykcontainer_issue_9270.json",
        "--merge",
        "-o",
        snyk_facts.to_str().unwrap(),
    ]);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr_of(&merged));
    let juiceshop = dir.join("juiceshop.yaml");
    std::fs::write(
        &juiceshop,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: juiceshop}\nspec:\n  containers:\n  - {name: app, image: \"sarim04/juiceshop:latest\"}\n",
    )
    .unwrap();
    // One critical with a fix (sanitize-html): the default threshold already fires.
    assert_eq!(
        vulnerable(&juiceshop, &snyk_facts, "critical"),
        vec!["vulnerable-image juiceshop"]
    );
    // Without the facts, the same pod is only unscanned: the finding comes from the report.
    assert_eq!(
        vulnerable(&juiceshop, &clair_facts, "critical"),
        vec!["unscanned-image juiceshop"]
    );
}

#[test]
fn reports_that_cannot_be_used_are_clear_errors() {
    let dir = scratch_dir("facts-bad-scans");
    let old = dir.join("old-trivy.json");
    std::fs::write(&old, r#"[{"Target": "x", "Vulnerabilities": null}]"#).unwrap();
    let config_scan = dir.join("fs-trivy.json");
    std::fs::write(
        &config_scan,
        r#"{"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem", "Results": []}"#,
    )
    .unwrap();
    let anonymous = dir.join("anonymous-grype.json");
    std::fs::write(
        &anonymous,
        r#"{"matches": [], "source": {"type": "image", "target": {}}}"#,
    )
    .unwrap();
    for (flag, path, message) in [
        ("--trivy", &old, "old report format"),
        ("--trivy", &config_scan, "not a container image"),
        ("--grype", &anonymous, "names no image digest"),
    ] {
        let output = run(&[
            "facts",
            "collect",
            flag,
            path.to_str().unwrap(),
            "-o",
            dir.join("out.json").to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

/// Runs portcullis with `stdin` closed; fails the test if it has not finished in 30 s.
fn run_within(args: &[&str]) -> Output {
    let mut child = Command::new(portcullis_binary())
        .args(args)
        .current_dir(workspace_root())
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("portcullis runs");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("portcullis {} did not finish within 30 s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Issue 10 (item 5): `facts collect --trivy broken.json --out existing.json` replaced the
/// existing facts file with an empty one.
#[test]
fn a_run_that_collects_nothing_leaves_the_facts_file_as_it_was() {
    let dir = scratch_dir("facts-keep-file");
    let out = dir.join("existing.json");
    let before =
        std::fs::read(workspace_root().join("tests/fixtures/facts/image-facts.json")).unwrap();
    std::fs::write(&out, &before).unwrap();
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    for extra in [&[][..], &["--merge"][..]] {
        let mut args = vec![
            "facts",
            "collect",
            "--trivy",
            broken.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let output = run_within(&args);
        assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
        let text = stderr_of(&output);
        assert!(
            text.contains("broken.json") && text.contains("is left as it was"),
            "{text}"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            before,
            "the facts file changed"
        );
    }
    // Nothing but the file itself in the directory: no temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["broken.json", "existing.json"]);
}

/// When some inputs work and others fail, the file holds what worked (written atomically,
/// through a symlink, keeping its permissions) and the exit code says something failed.
#[test]
fn a_partly_failed_run_writes_what_worked_and_exits_2() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("facts-partial");
    let real = dir.join("real.json");
    std::fs::write(&real, "old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("facts.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "[]").unwrap();
    let output = run_within(&[
        "facts",
        "collect",
        "--trivy",
        "tests/fixtures/facts/trivy-report.json",
        "--grype",
        broken.to_str().unwrap(),
        "--out",
        link.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    let text = stderr_of(&output);
    assert!(
        text.contains("wrote facts of 1 image(s)") && text.contains("1 failed"),
        "{text}"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let file = portcullis_engine::facts::FactsFile::parse(&std::fs::read_to_string(&real).unwrap())
        .unwrap();
    assert_eq!(file.images.len(), 1);
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

/// Issue 10 (item 4): the facts file, reports and the docker config must be regular files
/// within their caps: a FIFO made the run wait forever, `/dev/zero` filled memory.
#[test]
fn facts_inputs_must_be_regular_files_within_their_caps() {
    let dir = scratch_dir("facts-inputs-regular");
    let fifo = dir.join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let big = dir.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((512 << 20) + 1)
        .unwrap();
    let out = dir.join("out.json");
    let out = out.to_str().unwrap();
    let fifo = fifo.to_str().unwrap();
    let workloads = "tests/fixtures/facts/workloads.yaml";
    for (args, message) in [
        (
            vec!["check", workloads, "--image-facts", "/dev/zero"],
            "not a regular file",
        ),
        (
            vec!["check", workloads, "--image-facts", fifo],
            "not a regular file",
        ),
        (
            vec!["check", workloads, "--pull-facts", "--image-facts", fifo],
            "not a regular file",
        ),
        (
            vec!["facts", "collect", "--trivy", "/dev/zero", "-o", out],
            "not a regular file",
        ),
        (
            vec!["facts", "collect", "--grype", fifo, "-o", out],
            "not a regular file",
        ),
        (
            vec![
                "facts",
                "collect",
                "--trivy",
                big.to_str().unwrap(),
                "-o",
                out,
            ],
            "larger than 256.0 MiB, the cap for a scanner report",
        ),
        (
            vec![
                "facts",
                "collect",
                "x/y:1",
                "--docker-config",
                fifo,
                "-o",
                out,
            ],
            "not a regular file",
        ),
    ] {
        let output = run_within(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr_of(&output)
        );
        let text = stderr_of(&output);
        assert!(text.contains(message), "{args:?}: {text}");
    }
}
