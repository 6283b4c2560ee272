//! `check --watch` and `test --watch` driven like a person would: start, save files the
//! way editors do, read what the watcher prints, press Ctrl-C.
//!
//! Waiting is generous (seconds) so a loaded CI machine does not fail these tests; the
//! latencies measured are printed, not asserted (docs/benchmarks.md reports them).

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use portcullis_tests::{portcullis_binary, scratch_dir};

const PATIENCE: Duration = Duration::from_secs(20);

struct Watcher {
    child: Child,
    lines: Receiver<String>,
}

impl Watcher {
    fn start(dir: &Path, args: &[&str]) -> Watcher {
        let mut child = Command::new(portcullis_binary())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("portcullis starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher { child, lines }
    }

    /// Lines up to and including the first one containing `marker`.
    fn until(&self, marker: &str) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(marker);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!("no line with {marker:?} after:\n{}", seen.join("\n"))
                }
            }
        }
    }

    /// CPU time the process has used, in clock ticks (utime + stime from /proc).
    fn cpu_ticks(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    }

    fn interrupt(mut self) -> (i32, Vec<String>) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let rest = self.until("stopped watching");
        let code = self
            .child
            .wait()
            .expect("exits")
            .code()
            .expect("not killed by a signal");
        (code, rest)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Saves like editors that write a temporary file and rename it over the original.
fn atomic_save(path: &Path, text: &str) {
    let temporary = path.with_extension("swp-tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

const RULE: &str = r#"const META = #{
    id: "owner-label",
    title: "Pods from registry.company.com carry an owner label",
    severity: "medium",
    remediation: "Add an `owner` label to the pod template.",
};

fn check(workload, settings) {
    let findings = [];
    for c in workload.containers {
        if c.image.registry == "registry.company.com" && !workload.pod_labels.contains("owner") {
            findings.push(finding(c, "no owner label"));
        }
    }
    findings
}
"#;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
        - {name: app, image: \"registry.company.com/shop/app:1.0\"}
";

/// A project with `policies/owner-label.rhai` and `manifests/shop.yaml`: its directory and
/// the paths of the rule and the manifest.
fn owner_label_project(name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch_dir(name);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    let rule_path = dir.join("policies/owner-label.rhai");
    let manifest_path = dir.join("manifests/shop.yaml");
    std::fs::write(&rule_path, RULE).unwrap();
    std::fs::write(&manifest_path, DEPLOYMENT).unwrap();
    (dir, rule_path, manifest_path)
}

/// `check --watch manifests` with only the rules in `policies/`.
fn watch_manifests(dir: &Path) -> Watcher {
    Watcher::start(
        dir,
        &[
            "check",
            "--watch",
            "manifests",
            "--no-default-rules",
            "--rules",
            "policies",
            "--color",
            "never",
        ],
    )
}

fn block_text(lines: &[String]) -> String {
    lines.join("\n")
}

fn millis_since(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

#[test]
fn check_watch_follows_edits_keeps_the_last_good_rule_and_stops_on_ctrl_c() {
    let (dir, rule_path, manifest_path) = owner_label_project("watch-check");
    let watcher = watch_manifests(&dir);
    let first = watcher.until("watching for changes");
    assert!(block_text(&first).contains("owner-label  container `app`: no owner label"));

    // Idle: blocked on the channel, not polling.
    if let Some(before) = watcher.cpu_ticks() {
        std::thread::sleep(Duration::from_millis(1500));
        let after = watcher.cpu_ticks().unwrap();
        assert!(
            after - before <= 5,
            "used {} ticks while idle",
            after - before
        );
    }

    // A manifest edit re-checks that file and reports the fix.
    let saved = Instant::now();
    atomic_save(
        &manifest_path,
        &DEPLOYMENT.replace("{app: shop}", "{app: shop, owner: team-a}"),
    );
    let block = watcher.until("done in");
    let text = block_text(&block);
    eprintln!("manifest save -> output: {} ms", millis_since(saved));
    assert!(text.contains("manifests/shop.yaml"), "{text}");
    assert!(text.contains("since last run: 0 new, 1 fixed"), "{text}");
    assert!(
        text.contains("re-checked manifests/shop.yaml (1 workload(s))"),
        "{text}"
    );

    // A rule edit that does not compile: code frame, last good version keeps running.
    let broken = RULE.replace("let findings = [];", "let findings = [;");
    let saved = Instant::now();
    std::fs::write(&rule_path, &broken).unwrap();
    let block = watcher.until("done in");
    let text = block_text(&block);
    eprintln!("broken rule save -> output: {} ms", millis_since(saved));
    assert!(text.contains("policies/owner-label.rhai:9:"), "{text}");
    assert!(text.contains("let findings = [;"), "no code frame: {text}");
    assert!(
        text.contains("its last good version keeps running"),
        "{text}"
    );
    assert!(
        text.contains("since last run: no change in findings"),
        "{text}"
    );

    // Fixed, and stricter: the rule now also wants a `team` label. Only it is redone.
    let stricter = RULE.replace(
        "!workload.pod_labels.contains(\"owner\")",
        "!workload.pod_labels.contains(\"team\")",
    );
    let saved = Instant::now();
    atomic_save(&rule_path, &stricter);
    let block = watcher.until("done in");
    let text = block_text(&block);
    eprintln!("fixed rule save -> output: {} ms", millis_since(saved));
    assert!(!text.contains("does not compile"), "{text}");
    assert!(text.contains("since last run: 1 new, 0 fixed"), "{text}");
    assert!(
        text.contains("recompiled `owner-label`; re-evaluated it on 1 workload(s)"),
        "{text}"
    );

    // A configuration created while watching applies at once.
    std::fs::write(
        dir.join("portcullis.yaml"),
        "rules:\n  owner-label:\n    severity: critical\n",
    )
    .unwrap();
    let block = watcher.until("done in");
    let text = block_text(&block);
    assert!(text.contains("critical owner-label"), "{text}");
    // Only the severity moved: the same finding, shown as changed rather than "no change".
    assert!(
        text.contains("since last run: 0 new, 0 fixed, 1 changed"),
        "{text}"
    );
    assert!(text.contains("(severity medium → critical)"), "{text}");

    // An exemption waives the finding: changed again, not fixed.
    std::fs::write(
        dir.join("portcullis.yaml"),
        "rules:\n  owner-label:\n    severity: critical\nexemptions:\n  - {rule: owner-label, name: shop, reason: migrating}\n",
    )
    .unwrap();
    let block = watcher.until("done in");
    let text = block_text(&block);
    assert!(
        text.contains("since last run: 0 new, 0 fixed, 1 changed"),
        "{text}"
    );
    assert!(text.contains("(now exempted)"), "{text}");

    let (code, _) = watcher.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn test_watch_reruns_tests_on_save() {
    let dir = scratch_dir("watch-test");
    let created = Command::new(portcullis_binary())
        .args(["new", "rule", "team-rule", "--dir", "policies"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(created.status.success());
    let watcher = Watcher::start(&dir, &["test", "--watch", "policies", "--color", "never"]);
    let first = watcher.until("watching rules and tests");
    assert!(
        block_text(&first).contains("3 passed, 0 failed"),
        "{}",
        block_text(&first)
    );

    let tests = dir.join("policies/team-rule.tests.yaml");
    let text = std::fs::read_to_string(&tests).unwrap();
    atomic_save(
        &tests,
        &text.replace("expect: []", "expect: [{container: app}]"),
    );
    let block = watcher.until("watching rules and tests");
    let text = block_text(&block);
    assert!(
        text.contains("FAIL images from other registries pass"),
        "{text}"
    );
    assert!(text.contains("2 passed, 1 failed"), "{text}");

    let (code, _) = watcher.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn check_watch_does_not_call_findings_fixed_when_their_file_or_rule_breaks() {
    let (dir, rule_path, manifest_path) = owner_label_project("watch-not-fixed");
    let watcher = watch_manifests(&dir);
    let first = watcher.until("watching for changes");
    assert!(block_text(&first).contains("no owner label"));

    // The manifest's YAML breaks: its finding was not fixed, only not rechecked.
    atomic_save(&manifest_path, &format!("{DEPLOYMENT}  bad: [unclosed\n"));
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("no change in findings"), "{text}");
    assert!(text.contains("1 earlier finding not rechecked"), "{text}");
    // Repaired: the finding is still there, and neither new nor fixed.
    atomic_save(&manifest_path, DEPLOYMENT);
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("no change in findings"), "{text}");

    // The rule starts failing at run time on that workload: not fixed either.
    atomic_save(
        &rule_path,
        &RULE.replace("let findings = [];", "let findings = []; let boom = 1 / 0;"),
    );
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("failed on Deployment"), "{text}");
    assert!(text.contains("no change in findings"), "{text}");
    assert!(text.contains("1 earlier finding not rechecked"), "{text}");
    atomic_save(&rule_path, RULE);
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("no change in findings"), "{text}");

    let (code, _) = watcher.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn check_watch_keeps_a_directory_that_is_deleted_or_renamed_and_comes_back() {
    let dir = scratch_dir("watch-recreated");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::write(dir.join("policies/owner-label.rhai"), RULE).unwrap();
    let manifest = dir.join("manifests/shop.yaml");
    std::fs::write(&manifest, DEPLOYMENT).unwrap();
    let watcher = watch_manifests(&dir);
    let first = watcher.until("watching for changes");
    assert!(block_text(&first).contains("no owner label"));

    // Renamed away: the findings go (no event names the file inside).
    std::fs::rename(dir.join("manifests"), dir.join("elsewhere")).unwrap();
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("0 new, 1 fixed"), "{text}");
    // ...and back: they return.
    std::fs::rename(dir.join("elsewhere"), dir.join("manifests")).unwrap();
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("1 new, 0 fixed"), "{text}");

    // Deleted and created again: still watched.
    std::fs::remove_dir_all(dir.join("manifests")).unwrap();
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("0 new, 1 fixed"), "{text}");
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&manifest, DEPLOYMENT).unwrap();
    let text = block_text(&watcher.until("owner-label"));
    assert!(text.contains("no owner label"), "{text}");
    // An edit inside the new directory is seen: the watch is live again.
    let _ = watcher.until("done in");
    atomic_save(
        &manifest,
        &DEPLOYMENT.replace("{app: shop}", "{app: shop, owner: team-a}"),
    );
    let text = block_text(&watcher.until("done in"));
    assert!(text.contains("0 new, 1 fixed"), "{text}");
    let (code, _) = watcher.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn ctrl_c_stops_check_watch_while_a_slow_rule_runs() {
    let dir = scratch_dir("watch-slow-rule");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    // Slow only for pods labelled `slow`: minutes of regex scans, under the operation
    // limit, with a time limit far away.
    let slow = r#"const META = #{ id: "slow", title: "t", severity: "low", remediation: "r" };
fn check(workload, settings) {
    if workload.pod_labels.contains("slow") {
        let s = ""; s.pad(786432, 'a');
        for i in 0..150000 { regex_match("x", s); }
    }
    []
}
"#;
    std::fs::write(dir.join("policies/slow.rhai"), slow).unwrap();
    let manifest = dir.join("manifests/shop.yaml");
    std::fs::write(&manifest, DEPLOYMENT).unwrap();
    let watcher = Watcher::start(
        &dir,
        &[
            "check",
            "--watch",
            "manifests",
            "--no-default-rules",
            "--rules",
            "policies",
            "--rule-timeout",
            "600000",
            "--color",
            "never",
        ],
    );
    watcher.until("watching for changes");
    atomic_save(
        &manifest,
        &DEPLOYMENT.replace("{app: shop}", "{app: shop, slow: \"yes\"}"),
    );
    // Let the evaluation start, then press Ctrl-C.
    std::thread::sleep(Duration::from_millis(500));
    let pressed = Instant::now();
    let (code, _) = watcher.interrupt();
    assert_eq!(code, 0);
    eprintln!("Ctrl-C -> exit: {} ms", millis_since(pressed));
}
