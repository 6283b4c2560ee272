//! Image facts from real parts: images built offline with `umoci`, pushed with `skopeo` to
//! Debian's `docker-registry` on 127.0.0.1, and collected through the registry, from the
//! OCI layout and from a `docker save`-style tarball; the image rules end to end from the
//! facts file; `check --pull-facts` and its cache; registry faults.
//!
//! Without the tools these tests skip with a message, except in CI (`CI=true`), where a
//! missing tool fails them: `.ci/run` installs them.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use portcullis_engine::facts::FactsFile;
use portcullis_engine::facts::{DigestKind, ImageFacts};
use portcullis_tests::{portcullis_binary, scratch_dir, workspace_root};

const TOOLS: [&str; 3] = ["docker-registry", "skopeo", "umoci"];

/// Whether the tools are here; panics in CI when they are not.
fn tools_ready(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: {} missing in CI; .ci/run installs them",
            missing.join(", ")
        );
    }
    portcullis_tests::say_skipped(&format!(
        "{test}: {} not installed (apt-get install docker-registry skopeo umoci)",
        missing.join(", ")
    ));
    false
}

fn run_tool(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn portcullis(args: &[&str]) -> Output {
    Command::new(portcullis_binary())
        .args(args)
        .current_dir(workspace_root())
        .env_remove("PORTCULLIS_REGISTRY_PASSWORD")
        .output()
        .expect("portcullis runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `docker-registry` on 127.0.0.1, stopped when dropped.
struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    fn start(dir: &Path, htpasswd: Option<&str>) -> Registry {
        let port = free_port();
        let auth = match htpasswd {
            Some(line) => {
                let file = dir.join("htpasswd");
                std::fs::write(&file, format!("{line}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: portcullis-test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("registry.err")).unwrap())
            .spawn()
            .expect("docker-registry starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port, log }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests for blobs the registry has served so far (its access log lines).
    fn blob_gets(&self) -> usize {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(
            &std::fs::read_to_string(self.log.with_file_name("registry.err")).unwrap_or_default(),
        );
        text.lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
            .count()
    }

    fn push(&self, layout: &Path, tag: &str, target: &str, all: bool) {
        let source = format!("oci:{}:{tag}", layout.display());
        let dest = format!("docker://{}/{target}", self.host());
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        if all {
            args.push("--all");
        }
        args.push(&source);
        args.push(&dest);
        run_tool("skopeo", &args);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `files` (path, contents) and `links` (path, target) under `root`.
fn rootfs(root: &Path, files: &[(&str, &[u8])], links: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    for (path, target) in links {
        std::os::unix::fs::symlink(target, root.join(path)).unwrap();
    }
}

/// Builds an image in the layout `layout` under `tag`, offline, from a rootfs and
/// `umoci config` arguments.
fn build_image(work: &Path, layout: &Path, tag: &str, root: &Path, config: &[&str]) {
    let image = format!("{}:{tag}", layout.display());
    if !layout.join("oci-layout").exists() {
        run_tool("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    }
    let base = format!("{}:{tag}-base", layout.display());
    run_tool("umoci", &["new", "--image", &base]);
    run_tool(
        "umoci",
        &["insert", "--image", &base, root.to_str().unwrap(), "/"],
    );
    let mut args = vec!["config", "--image", &base, "--tag", tag];
    args.extend_from_slice(config);
    run_tool("umoci", &args);
    run_tool("umoci", &["rm", "--image", &base]);
    let _ = (work, image);
}

/// The test images, built once per test process.
struct Images {
    dir: PathBuf,
    /// Busybox-like: a shell, apk and dpkg databases, os-release, root, a password in ENV.
    shell_layout: PathBuf,
    /// Distroless-like: one static file, user 65532.
    static_layout: PathBuf,
    /// An index of two static images, linux/amd64 and linux/arm64.
    multi_layout: PathBuf,
}

fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = scratch_dir("image-sources-images");
        let shell_root = dir.join("shell-root");
        rootfs(
            &shell_root,
            &[
                ("bin/busybox", b"\x7fELF busybox"),
                ("lib/apk/db/installed", b"P:musl\nV:1.2.5-r0\n"),
                ("var/lib/dpkg/status", b"Package: base-files\n"),
                (
                    "etc/os-release",
                    b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n",
                ),
            ],
            &[("bin/sh", "busybox")],
        );
        let shell_layout = dir.join("shell-layout");
        build_image(
            &dir,
            &shell_layout,
            "1.0",
            &shell_root,
            &[
                "--config.env",
                "DB_PASSWORD=hunter2",
                "--config.cmd",
                "/bin/sh",
                "--config.label",
                "org.opencontainers.image.base.name=docker.io/library/alpine:3.20",
            ],
        );
        let static_root = dir.join("static-root");
        rootfs(&static_root, &[("app", b"\x7fELF static app")], &[]);
        let static_layout = dir.join("static-layout");
        build_image(
            &dir,
            &static_layout,
            "2.0",
            &static_root,
            &[
                "--config.user",
                "65532:65532",
                "--config.entrypoint",
                "/app",
            ],
        );

        // The index: two images, then an index blob naming both, tagged in index.json.
        let multi_layout = dir.join("multi-layout");
        build_image(
            &dir,
            &multi_layout,
            "amd64",
            &static_root,
            &["--architecture", "amd64"],
        );
        build_image(
            &dir,
            &multi_layout,
            "arm64",
            &static_root,
            &["--architecture", "arm64"],
        );
        let index_path = multi_layout.join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
        let entries: Vec<serde_json::Value> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let arch = m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_string();
                serde_json::json!({
                    "mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                    "platform": {"os": "linux", "architecture": arch},
                })
            })
            .collect();
        let blob = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .unwrap();
        let digest = sha256_hex(&blob);
        std::fs::write(multi_layout.join("blobs/sha256").join(&digest), &blob).unwrap();
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": format!("sha256:{digest}"),
                "size": blob.len(),
                "annotations": {"org.opencontainers.image.ref.name": "3.0"},
            }));
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        Images {
            dir,
            shell_layout,
            static_layout,
            multi_layout,
        }
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    let output = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum runs");
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

fn read_facts(path: &Path) -> FactsFile {
    FactsFile::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn only_image(file: &FactsFile) -> (&String, &ImageFacts) {
    assert_eq!(file.images.len(), 1, "{file:#?}");
    file.images.iter().next().unwrap()
}

#[test]
fn registry_layout_and_archive_give_the_same_facts() {
    if !tools_ready("registry_layout_and_archive_give_the_same_facts") {
        return;
    }
    let images = images();
    let dir = scratch_dir("image-sources-same");
    let registry = Registry::start(&dir, None);
    registry.push(&images.shell_layout, "1.0", "shop/shell:1.0", false);
    let reference = format!("{}/shop/shell:1.0", registry.host());
    let archive = dir.join("shell.tar");
    run_tool(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:1.0", images.shell_layout.display()),
            &format!("docker-archive:{}:{reference}", archive.display()),
        ],
    );

    let out = |name: &str| dir.join(name);
    let collect = |extra: &[&str], name: &str| {
        let path = out(name);
        let mut args = vec!["facts", "collect", &reference, "--no-facts-cache", "-o"];
        let path_text = path.to_str().unwrap().to_string();
        args.push(&path_text);
        args.extend_from_slice(extra);
        let output = portcullis(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        read_facts(&path)
    };
    let mut from_registry = collect(&[], "registry.json");
    // Only a registry holds signatures: it was asked, and this image has none.
    for facts in from_registry.images.values_mut() {
        assert_eq!(facts.signatures.take(), Some(Default::default()));
    }
    let layout = images.shell_layout.to_str().unwrap().to_string();
    let from_layout = collect(&["--oci-layout", &layout], "layout.json");
    let archive_text = archive.to_str().unwrap().to_string();
    let from_archive = collect(&["--docker-archive", &archive_text], "archive.json");

    // Registry and layout hold the same blobs: everything is equal, digest included.
    assert_eq!(from_registry, from_layout);
    let (digest, facts) = only_image(&from_registry);
    assert!(facts.references.contains(&reference));
    let config = facts.config.as_ref().unwrap();
    assert_eq!(config.user, "");
    assert_eq!(config.env, vec!["DB_PASSWORD"]);
    assert_eq!(config.env_secrets[0].reason, "a password");
    let fs = facts.filesystem.as_ref().unwrap();
    assert_eq!(fs.shells, vec!["busybox", "sh"]);
    assert_eq!(fs.package_managers, vec!["apk", "dpkg"]);
    assert_eq!(fs.os_release.as_ref().unwrap().id, "alpine");
    assert!(facts.size().unwrap() > 0);

    // The archive keeps no manifest (and stores layers uncompressed): the key is the image
    // id, and config, platform and filesystem facts are the same.
    let (archive_key, archived) = only_image(&from_archive);
    assert_ne!(archive_key, digest);
    assert_eq!(Some(archive_key), facts.config_digest.as_ref());
    assert_eq!(archived.digest_kind, DigestKind::Config);
    assert_eq!(archived.config, facts.config);
    assert_eq!(archived.platform, facts.platform);
    assert_eq!(archived.filesystem, facts.filesystem);
    // Deterministic: collecting again writes the same bytes.
    let mut again = collect(&[], "registry-again.json");
    for facts in again.images.values_mut() {
        facts.signatures = None;
    }
    assert_eq!(again.to_json(), from_registry.to_json());
}

#[test]
fn image_rules_end_to_end_offline_and_pull_facts_with_cache() {
    if !tools_ready("image_rules_end_to_end_offline_and_pull_facts_with_cache") {
        return;
    }
    let images = images();
    let dir = scratch_dir("image-sources-rules");
    let registry = Registry::start(&dir, None);
    registry.push(&images.shell_layout, "1.0", "shop/shell:1.0", false);
    registry.push(&images.static_layout, "2.0", "shop/static:2.0", false);
    let shell = format!("{}/shop/shell:1.0", registry.host());
    let static_image = format!("{}/shop/static:2.0", registry.host());
    let trivy = workspace_root().join("tests/fixtures/facts/trivy-shell.json");
    // The Trivy fixture names the image by reference; write it for this registry's port.
    let trivy_text = std::fs::read_to_string(&trivy)
        .unwrap()
        .replace("REGISTRY", &registry.host());
    let trivy_here = dir.join("trivy.json");
    std::fs::write(&trivy_here, trivy_text).unwrap();
    let facts_file = dir.join("image-facts.json");
    let output = portcullis(&[
        "facts",
        "collect",
        &shell,
        &static_image,
        "--trivy",
        trivy_here.to_str().unwrap(),
        "--no-facts-cache",
        "-o",
        facts_file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let manifests = dir.join("pods.yaml");
    std::fs::write(
        &manifests,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: shell}}\nspec:\n  containers: [{{name: app, image: \"{shell}\"}}]\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {{name: static}}\nspec:\n  containers: [{{name: app, image: \"{static_image}\"}}]\n"
        ),
    )
    .unwrap();
    let rules =
        "vulnerable-image,secret-in-image,non-minimal-image,image-runs-as-root,unscanned-image";
    let findings = |output: &Output| -> Vec<String> {
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", stderr(output)));
        let mut found: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["rule"].as_str().unwrap(),
                    f["resource"]["name"].as_str().unwrap()
                )
            })
            .collect();
        found.sort();
        found
    };
    let offline = portcullis(&[
        "check",
        manifests.to_str().unwrap(),
        "--image-facts",
        facts_file.to_str().unwrap(),
        "--select",
        rules,
        "--format",
        "json",
    ]);
    let expected = vec![
        "image-runs-as-root shell",
        "non-minimal-image shell",
        "secret-in-image shell",
        "unscanned-image static",
        "vulnerable-image shell",
    ];
    assert_eq!(findings(&offline), expected, "{}", stderr(&offline));

    // --pull-facts collects the same on the fly; the second run reads the cache and
    // downloads no blob.
    let cache = dir.join("cache");
    let pull = |cache: &Path| {
        portcullis(&[
            "check",
            manifests.to_str().unwrap(),
            "--pull-facts",
            "--facts-cache",
            cache.to_str().unwrap(),
            "--select",
            rules,
            "--format",
            "json",
        ])
    };
    let first = pull(&cache);
    let blobs_after_first = registry.blob_gets();
    assert!(
        blobs_after_first > 0,
        "the registry log shows no blob download"
    );
    let second = pull(&cache);
    assert_eq!(
        registry.blob_gets(),
        blobs_after_first,
        "the cached run downloaded blobs"
    );
    // Without the Trivy report, both images are unscanned; the rest is as offline.
    let mut pulled_expected: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|f| !f.starts_with("vulnerable-image"))
        .collect();
    pulled_expected.push("unscanned-image shell");
    pulled_expected.sort();
    assert_eq!(findings(&first), pulled_expected, "{}", stderr(&first));
    assert_eq!(findings(&second), pulled_expected, "{}", stderr(&second));
}

#[test]
fn multi_platform_index_picks_the_platform() {
    if !tools_ready("multi_platform_index_picks_the_platform") {
        return;
    }
    let images = images();
    let dir = scratch_dir("image-sources-multi");
    let registry = Registry::start(&dir, None);
    registry.push(&images.multi_layout, "3.0", "shop/multi:3.0", true);
    let reference = format!("{}/shop/multi:3.0", registry.host());
    for (platform, arch) in [(None, "amd64"), (Some("linux/arm64"), "arm64")] {
        let out = dir.join(format!("{arch}.json"));
        let mut args = vec![
            "facts",
            "collect",
            &reference,
            "--no-facts-cache",
            "-o",
            out.to_str().unwrap(),
        ];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        let output = portcullis(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let mut file = read_facts(&out);
        // Only a registry holds signatures: it was asked, and this image has none.
        for facts in file.images.values_mut() {
            assert_eq!(facts.signatures.take(), Some(Default::default()));
        }
        let (_, facts) = only_image(&file);
        assert_eq!(facts.platform.as_ref().unwrap().architecture, arch);
        assert_eq!(facts.index_digests.len(), 1, "{facts:?}");
        // The layout gives the same, index digest included.
        let from_layout = dir.join(format!("{arch}-layout.json"));
        let mut args = vec![
            "facts",
            "collect",
            &reference,
            "--oci-layout",
            images.multi_layout.to_str().unwrap(),
            "-o",
            from_layout.to_str().unwrap(),
        ];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        let output = portcullis(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(read_facts(&from_layout), file);
    }
    let output = portcullis(&[
        "facts",
        "collect",
        &reference,
        "--platform",
        "linux/s390x",
        "--no-facts-cache",
        "-o",
        dir.join("none.json").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let _ = images.dir.exists();
}

#[test]
fn registry_faults_are_clear_per_image_and_do_not_stop_the_rest() {
    if !tools_ready("registry_faults_are_clear_per_image_and_do_not_stop_the_rest") {
        return;
    }
    let images = images();
    let dir = scratch_dir("image-sources-faults");
    // bcrypt of "right-password", as docker-registry's htpasswd wants.
    let registry = Registry::start(
        &dir,
        Some("tester:$2b$12$l8g3CIFJimXEFcHbP.Iac.gzUGVXm4m/LO/9C5Oz9CGfifsXoif.."),
    );
    let creds = "--dest-creds=tester:right-password";
    run_tool(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            creds,
            &format!("oci:{}:1.0", images.shell_layout.display()),
            &format!("docker://{}/shop/shell:1.0", registry.host()),
        ],
    );
    let good = format!("{}/shop/shell:1.0", registry.host());
    let missing = format!("{}/shop/shell:no-such-tag", registry.host());
    let collect = |password: &str, refs: &[&str], extra: &[&str]| {
        let out = dir.join("faults.json");
        let mut command = Command::new(portcullis_binary());
        command
            .args([
                "facts",
                "collect",
                "--no-facts-cache",
                "--username",
                "tester",
                "-o",
            ])
            .arg(&out)
            .args(refs)
            .args(extra)
            .env("PORTCULLIS_REGISTRY_PASSWORD", password);
        (command.output().unwrap(), out)
    };

    // Wrong credentials.
    let (output, _) = collect("wrong-password", &[&good], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("authentication"),
        "{}",
        stderr(&output)
    );

    // A missing tag fails alone; the good image is still collected.
    let (output, out) = collect("right-password", &[&missing, &good], &[]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&missing) && text.contains("not found"),
        "{text}"
    );
    assert_eq!(read_facts(&out).images.len(), 1);

    // A layer over the cap.
    let (output, _) = collect("right-password", &[&good], &["--max-layer-size", "100B"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("over the cap"),
        "{}",
        stderr(&output)
    );

    // Plain HTTP is for loopback only: the same registry by another name needs --insecure.
    let (output, _) = collect(
        "right-password",
        &["registry.invalid:5000/shop/shell:1.0"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
}

/// A registry that serves a manifest and config, then stops answering halfway through the
/// layer.
fn stalling_registry() -> (u16, &'static str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A real (uncompressed) tar, so the scanner reads into it before the stall.
    let dir = scratch_dir("image-sources-stall-layer");
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("data.bin"), data).unwrap();
    let layer = run_tool(
        "tar",
        &["-cf", "-", "-C", dir.to_str().unwrap(), "data.bin"],
    )
    .stdout;
    let config = br#"{"architecture":"amd64","os":"linux","config":{}}"#.to_vec();
    let layer_digest = format!("sha256:{}", sha256_hex(&layer));
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (layer, config, manifest, manifest_digest, config_digest) = (
                layer.clone(),
                config.clone(),
                manifest.clone(),
                manifest_digest.clone(),
                config_digest.clone(),
            );
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty()
                    {
                        line.clear();
                    }
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                    let head = request.starts_with("HEAD");
                    let (content_type, body, stall): (&str, &[u8], bool) =
                        if path.contains("/manifests/") {
                            (
                                "application/vnd.oci.image.manifest.v1+json",
                                &manifest,
                                false,
                            )
                        } else if path.ends_with(&config_digest) {
                            ("application/octet-stream", &config, false)
                        } else if path.contains("/blobs/") {
                            ("application/octet-stream", &layer, true)
                        } else {
                            ("application/json", b"{}", false)
                        };
                    let header = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nDocker-Content-Digest: {}\r\n\r\n",
                        body.len(),
                        if path.contains("/manifests/") {
                            manifest_digest.as_str()
                        } else {
                            ""
                        }
                    );
                    let _ = stream.write_all(header.as_bytes());
                    if head {
                        continue;
                    }
                    if stall {
                        let _ = stream.write_all(&body[..body.len() / 2]);
                        let _ = stream.flush();
                        std::thread::sleep(Duration::from_secs(30));
                        return;
                    }
                    let _ = stream.write_all(body);
                }
            });
        }
    });
    (port, "stall/app:1.0")
}

#[test]
fn a_registry_that_stops_answering_mid_layer_times_out() {
    let (port, name) = stalling_registry();
    let dir = scratch_dir("image-sources-stall");
    let started = Instant::now();
    let output = portcullis(&[
        "facts",
        "collect",
        &format!("127.0.0.1:{port}/{name}"),
        "--registry-timeout",
        "2",
        "--no-facts-cache",
        "-o",
        dir.join("stall.json").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("timed out") || text.contains("did not answer"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
}

// ---- Hostile registries (issue 10): fake registries in this file, no tools needed ----

/// What a fake registry answers for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with this content type and body.
    Body(&'static str, Vec<u8>),
    /// This status and a body that never ends (until the client hangs up).
    Endless(u16),
    /// 200 with a body of `len` bytes, one byte every `every`.
    Trickle(usize, Duration),
    /// 404 with a small Distribution API error.
    Missing,
    /// 401 with a bearer challenge naming this realm.
    Challenge(String),
    /// 200 with this body, one byte every `every`.
    TrickleBody(Vec<u8>, Duration),
}

/// A registry on 127.0.0.1 answering `route(path)`; its threads end when clients hang up.
fn fake_registry(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let route = std::sync::Arc::new(route);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let route = route.clone();
            std::thread::spawn(move || serve_connection(stream, &*route));
        }
    });
    port
}

fn serve_connection(stream: TcpStream, route: &dyn Fn(&str) -> Reply) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
            line.clear();
        }
        let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
        match route(&path) {
            Reply::Body(content_type, body) => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(header.as_bytes()).is_err() || stream.write_all(&body).is_err()
                {
                    return;
                }
            }
            Reply::Missing => {
                let body =
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
                let header = format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes());
                let _ = stream.write_all(body);
            }
            Reply::Challenge(realm) => {
                let header = format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\"\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = stream.write_all(header.as_bytes());
            }
            Reply::TrickleBody(body, every) => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes());
                for byte in body {
                    if stream
                        .write_all(&[byte])
                        .and_then(|_| stream.flush())
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(every);
                }
            }
            Reply::Endless(status) => {
                let header = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(header.as_bytes());
                let chunk = vec![b'{'; 64 * 1024];
                while stream.write_all(&chunk).is_ok() {}
                return;
            }
            Reply::Trickle(len, every) => {
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {len}\r\n\r\n"
                );
                let _ = stream.write_all(header.as_bytes());
                for _ in 0..len {
                    if stream.write_all(b" ").and_then(|_| stream.flush()).is_err() {
                        return;
                    }
                    std::thread::sleep(every);
                }
            }
        }
    }
}

/// A small image (`bin/sh`, root user) as registry blobs: (manifest, path -> reply).
struct Blobs {
    manifest: Vec<u8>,
    manifest_digest: String,
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
}

fn small_image() -> &'static Blobs {
    static BLOBS: OnceLock<Blobs> = OnceLock::new();
    BLOBS.get_or_init(|| {
        let dir = scratch_dir("image-sources-small-image");
        rootfs(&dir.join("root"), &[("bin/sh", b"\x7fELF sh")], &[]);
        let layer = run_tool(
            "tar",
            &["-cf", "-", "-C", dir.join("root").to_str().unwrap(), "bin"],
        )
        .stdout;
        let config = br#"{"architecture":"amd64","os":"linux","config":{"User":""}}"#.to_vec();
        let layer_digest = format!("sha256:{}", sha256_hex(&layer));
        let config_digest = format!("sha256:{}", sha256_hex(&config));
        let manifest = image_manifest(
            &config_digest,
            config.len() as u64,
            &layer_digest,
            layer.len(),
        );
        Blobs {
            manifest_digest: format!("sha256:{}", sha256_hex(&manifest)),
            manifest,
            config,
            config_digest,
            layer,
            layer_digest,
        }
    })
}

fn image_manifest(
    config_digest: &str,
    config_size: u64,
    layer_digest: &str,
    layer_size: usize,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap()
}

/// The small image's blobs, for any repository: `None` for other paths.
fn small_image_route(path: &str) -> Option<Reply> {
    let blobs = small_image();
    if path == "/v2/" {
        Some(Reply::Body("application/json", b"{}".to_vec()))
    } else if path.ends_with("/manifests/1.0") || path.ends_with(&blobs.manifest_digest) {
        Some(Reply::Body(
            "application/vnd.oci.image.manifest.v1+json",
            blobs.manifest.clone(),
        ))
    } else if path.ends_with(&blobs.config_digest) {
        Some(Reply::Body(
            "application/octet-stream",
            blobs.config.clone(),
        ))
    } else if path.ends_with(&blobs.layer_digest) {
        Some(Reply::Body("application/octet-stream", blobs.layer.clone()))
    } else {
        None
    }
}

/// Runs portcullis; fails the test if it has not finished in `limit` (it is killed).
fn portcullis_within(args: &[&str], limit: Duration) -> Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch_dir(&format!("image-sources-run-{run}"));
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(portcullis_binary())
        .args(args)
        .current_dir(workspace_root())
        .env_remove("PORTCULLIS_REGISTRY_PASSWORD")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("portcullis runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "portcullis {} did not finish within {limit:?}: {}",
                args.join(" "),
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// Collects `bad` and then `good` from the fake registry: the bad image must fail with a
/// message containing each of `expected`, quickly, and the good one must still be in the
/// facts file.
fn bad_image_fails_alone(port: u16, bad: &str, timeout: &str, expected: &[&str]) {
    let dir = scratch_dir(&format!(
        "image-sources-hostile-{}",
        bad.replace([':', '/'], "-")
    ));
    let out = dir.join("facts.json");
    let bad_reference = format!("127.0.0.1:{port}/{bad}");
    let good_reference = format!("127.0.0.1:{port}/shop/good:1.0");
    let started = Instant::now();
    let output = portcullis_within(
        &[
            "facts",
            "collect",
            &bad_reference,
            &good_reference,
            "--registry-timeout",
            timeout,
            "--no-facts-cache",
            "-o",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    for needle in expected {
        assert!(text.contains(needle), "`{needle}` not in: {text}");
    }
    assert!(text.contains(&bad_reference), "{text}");
    let file = read_facts(&out);
    let (digest, facts) = only_image(&file);
    assert_eq!(*digest, small_image().manifest_digest);
    assert!(facts.references.contains(&good_reference), "{facts:?}");
    assert_eq!(facts.filesystem.as_ref().unwrap().shells, vec!["sh"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

/// Issue 10: an endless manifest body grew to 3-4 GB and aborted the run: no facts file.
#[test]
fn an_endless_manifest_body_fails_that_image_only() {
    let port = fake_registry(|path| {
        if path.starts_with("/v2/shop/bad/") {
            Reply::Endless(200)
        } else {
            small_image_route(path).unwrap_or(Reply::Missing)
        }
    });
    bad_image_fails_alone(
        port,
        "shop/bad:1.0",
        "5",
        &["sent more than 4.0 MiB for the manifest (the cap for a manifest)"],
    );

    // `check --pull-facts` too: the good image is checked with its facts, the bad one is
    // an error entry, and the report is complete.
    let dir = scratch_dir("image-sources-hostile-pull");
    let manifests = dir.join("pods.yaml");
    std::fs::write(
        &manifests,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: bad}}\nspec:\n  containers: [{{name: app, image: \"127.0.0.1:{port}/shop/bad:1.0\"}}]\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {{name: good}}\nspec:\n  containers: [{{name: app, image: \"127.0.0.1:{port}/shop/good:1.0\"}}]\n"
        ),
    )
    .unwrap();
    let output = portcullis_within(
        &[
            "check",
            manifests.to_str().unwrap(),
            "--pull-facts",
            "--no-facts-cache",
            "--select",
            "non-minimal-image",
            "--format",
            "json",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = portcullis_tests::finding_keys(&report);
    assert_eq!(
        findings,
        vec![(
            "non-minimal-image".to_string(),
            "good".to_string(),
            "app".to_string()
        )]
    );
    let errors = report["errors"].to_string();
    assert!(
        errors.contains("shop/bad:1.0") && errors.contains("cap"),
        "{errors}"
    );
}

/// Issue 10: so did an endless body on a 404.
#[test]
fn an_endless_error_body_fails_that_image_only() {
    let port = fake_registry(|path| {
        if path.starts_with("/v2/shop/gone/") {
            Reply::Endless(404)
        } else {
            small_image_route(path).unwrap_or(Reply::Missing)
        }
    });
    bad_image_fails_alone(port, "shop/gone:1.0", "5", &["not found", "HTTP 404"]);
}

/// Issue 10: and a config blob larger than its descriptor says (read whole before).
#[test]
fn a_config_blob_larger_than_its_descriptor_fails_that_image_only() {
    let blobs = small_image();
    let lying = image_manifest(
        &blobs.config_digest,
        100,
        &blobs.layer_digest,
        blobs.layer.len(),
    );
    let huge = image_manifest(
        &blobs.config_digest,
        3 << 30,
        &blobs.layer_digest,
        blobs.layer.len(),
    );
    let port = fake_registry(move |path| {
        if path.starts_with("/v2/shop/lying/manifests/") {
            Reply::Body("application/vnd.oci.image.manifest.v1+json", lying.clone())
        } else if path.starts_with("/v2/shop/huge/manifests/") {
            Reply::Body("application/vnd.oci.image.manifest.v1+json", huge.clone())
        } else if path.starts_with("/v2/shop/lying/blobs/")
            || path.starts_with("/v2/shop/huge/blobs/")
        {
            Reply::Endless(200)
        } else {
            small_image_route(path).unwrap_or(Reply::Missing)
        }
    });
    bad_image_fails_alone(
        port,
        "shop/lying:1.0",
        "5",
        &["sent more than 100 B for the image config (the size its descriptor gives)"],
    );
    bad_image_fails_alone(
        port,
        "shop/huge:1.0",
        "5",
        &["over the cap of 16.0 MiB for a config"],
    );
}

/// Issue 10: a registry sending a byte every so often was never timed out: each read came
/// within `--registry-timeout`. The whole request now has a deadline.
#[test]
fn a_slow_loris_registry_is_cut_off_by_the_request_deadline() {
    let port = fake_registry(|path| {
        if path.starts_with("/v2/shop/slow/") {
            Reply::Trickle(1000, Duration::from_millis(300))
        } else {
            small_image_route(path).unwrap_or(Reply::Missing)
        }
    });
    bad_image_fails_alone(
        port,
        "shop/slow:1.0",
        "1",
        &[
            "timed out",
            "took longer than 2s, the deadline for the whole request",
        ],
    );
}

/// Issue 10: a token response was read whole too (oci-client fetched tokens inside every
/// request).
#[test]
fn an_endless_token_response_fails_that_image_only() {
    let token_port = fake_registry(|_| Reply::Endless(200));
    let realm = format!("http://127.0.0.1:{token_port}/token");
    let port = fake_registry(move |path| {
        if path == "/v2/" {
            Reply::Challenge(realm.clone())
        } else {
            Reply::Missing
        }
    });
    let good_port = fake_registry(|path| small_image_route(path).unwrap_or(Reply::Missing));
    let dir = scratch_dir("image-sources-hostile-token");
    let out = dir.join("facts.json");
    let bad = format!("127.0.0.1:{port}/shop/app:1.0");
    let good = format!("127.0.0.1:{good_port}/shop/good:1.0");
    let output = portcullis_within(
        &[
            "facts",
            "collect",
            &bad,
            &good,
            "--no-facts-cache",
            "-o",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&bad)
            && text.contains(
                "sent more than 1.0 MiB for authentication (the cap for a token response)"
            ),
        "{text}"
    );
    assert_eq!(read_facts(&out).images.len(), 1);
}

/// A layer trickled a byte at a time: each read comes within `--registry-timeout`, and
/// the blob's deadline (twice the timeout, plus 1 s per 128 KiB) cuts it off.
#[test]
fn a_trickled_layer_is_cut_off_by_its_deadline() {
    let port = fake_registry(|path| {
        let blobs = small_image();
        if path.starts_with("/v2/shop/slow-layer/") && path.ends_with(&blobs.layer_digest) {
            Reply::TrickleBody(blobs.layer.clone(), Duration::from_millis(300))
        } else {
            small_image_route(path).unwrap_or(Reply::Missing)
        }
    });
    bad_image_fails_alone(
        port,
        "shop/slow-layer:1.0",
        "1",
        &["timed out: the deadline for this blob passed"],
    );
}

/// Issue 10 (item 6): an index whose entry is itself an index was reported "not found".
#[test]
fn a_nested_index_is_followed_to_the_platform_manifest() {
    let blobs = small_image();
    let inner = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": blobs.manifest_digest, "size": blobs.manifest.len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}],
    }))
    .unwrap();
    let inner_digest = format!("sha256:{}", sha256_hex(&inner));
    let outer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": inner_digest, "size": inner.len()}],
    }))
    .unwrap();
    let outer_digest = format!("sha256:{}", sha256_hex(&outer));
    let inner_path = inner_digest.clone();
    let port = fake_registry(move |path| {
        if path == "/v2/shop/nested/manifests/2.0" {
            Reply::Body("application/vnd.oci.image.index.v1+json", outer.clone())
        } else if path.ends_with(&inner_path) {
            Reply::Body("application/vnd.oci.image.index.v1+json", inner.clone())
        } else {
            small_image_route(path).unwrap_or(Reply::Missing)
        }
    });
    let dir = scratch_dir("image-sources-nested-index");
    let out = dir.join("facts.json");
    let output = portcullis_within(
        &[
            "facts",
            "collect",
            &format!("127.0.0.1:{port}/shop/nested:2.0"),
            "--no-facts-cache",
            "-o",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let file = read_facts(&out);
    let (digest, facts) = only_image(&file);
    assert_eq!(*digest, blobs.manifest_digest);
    let expected: std::collections::BTreeSet<String> = [outer_digest, inner_digest].into();
    assert_eq!(facts.index_digests, expected);
    let output = portcullis_within(
        &[
            "facts",
            "collect",
            &format!("127.0.0.1:{port}/shop/nested:2.0"),
            "--platform",
            "linux/arm64",
            "--no-facts-cache",
            "-o",
            dir.join("arm.json").to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(
            "no manifest for linux/arm64 (nor has the index nested in it); it has: linux/amd64"
        ),
        "{text}"
    );
}

// ---- Hostile files on disk (issue 10): OCI layouts and `docker save` archives ----

/// An OCI layout of the small image under tag `1.0` (and, with `nested`, the same image
/// behind an index nested in an index, under tag `2.0`).
fn small_layout(dir: &Path, nested: bool) -> PathBuf {
    let blobs = small_image();
    let layout = dir.join("layout");
    let blob_dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blob_dir.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };
    put(&blobs.manifest);
    put(&blobs.config);
    put(&blobs.layer);
    let mut entries = vec![serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": blobs.manifest_digest, "size": blobs.manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "1.0"},
    })];
    if nested {
        let inner = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": blobs.manifest_digest, "size": blobs.manifest.len(),
                           "platform": {"os": "linux", "architecture": "amd64"}}],
        }))
        .unwrap();
        let inner_digest = put(&inner);
        let outer = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                           "digest": inner_digest, "size": inner.len()}],
        }))
        .unwrap();
        let outer_digest = put(&outer);
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": outer_digest, "size": outer.len(),
            "annotations": {"org.opencontainers.image.ref.name": "2.0"},
        }));
    }
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": entries})).unwrap(),
    )
    .unwrap();
    layout
}

fn collect_from(source: &str, path: &Path, reference: &str, out: &Path) -> Output {
    portcullis_within(
        &[
            "facts",
            "collect",
            reference,
            source,
            path.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    )
}

/// Issue 10 (item 6): a nested index in an OCI layout was read as a manifest
/// ("missing field `config`").
#[test]
fn a_nested_index_in_an_oci_layout_is_followed() {
    let dir = scratch_dir("image-sources-layout-nested");
    let layout = small_layout(&dir, true);
    let out = dir.join("facts.json");
    let output = collect_from("--oci-layout", &layout, "shop/app:2.0", &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let file = read_facts(&out);
    let (digest, facts) = only_image(&file);
    assert_eq!(*digest, small_image().manifest_digest);
    assert_eq!(facts.index_digests.len(), 2, "{facts:?}");
}

/// Issue 10 (item 4): files of an OCI layout and `docker save` archives must be regular
/// files within their caps: a FIFO made `open` wait for a writer forever.
#[test]
fn layout_and_archive_files_must_be_regular_and_within_their_caps() {
    let dir = scratch_dir("image-sources-layout-files");
    let out = dir.join("facts.json");
    let fifo = |path: &Path| {
        let _ = std::fs::remove_file(path);
        run_tool("mkfifo", &[path.to_str().unwrap()]);
    };

    // index.json as a FIFO, then as a 17 MiB (sparse) file.
    let layout = small_layout(&dir.join("a"), false);
    fifo(&layout.join("index.json"));
    let output = collect_from("--oci-layout", &layout, "shop/app:1.0", &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("index.json: not a regular file"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_file(layout.join("index.json")).unwrap();
    std::fs::File::create(layout.join("index.json"))
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    let output = collect_from("--oci-layout", &layout, "shop/app:1.0", &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("index.json: larger than 16.0 MiB, the cap for an OCI layout index"),
        "{}",
        stderr(&output)
    );

    // A layer blob that is a FIFO.
    let layout = small_layout(&dir.join("b"), false);
    let layer_hex = small_image()
        .layer_digest
        .trim_start_matches("sha256:")
        .to_string();
    fifo(&layout.join("blobs/sha256").join(layer_hex));
    let output = collect_from("--oci-layout", &layout, "shop/app:1.0", &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a regular file"),
        "{}",
        stderr(&output)
    );

    // A `docker save` archive that is a FIFO, and one whose first header is a GNU long
    // name claiming 1.5 GiB (a sparse file: no disk used).
    let archive = dir.join("archive.tar");
    fifo(&archive);
    let output = collect_from("--docker-archive", &archive, "shop/app:1.0", &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a regular file"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_file(&archive).unwrap();
    let mut header = [0u8; 512];
    header[..13].copy_from_slice(b"././@LongLink");
    header[100..107].copy_from_slice(b"0000644");
    header[124..135].copy_from_slice(format!("{:011o}", 1536u64 << 20).as_bytes());
    header[156] = b'L';
    header[257..265].copy_from_slice(b"ustar  \0");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut file = std::fs::File::create(&archive).unwrap();
    file.write_all(&header).unwrap();
    file.set_len(512 + (1536 << 20) + 1024).unwrap();
    let output = collect_from("--docker-archive", &archive, "shop/app:1.0", &out);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("GNU long name of 1610612736 bytes, over the cap of 1024 KiB"),
        "{}",
        stderr(&output)
    );
}

/// Whether python3 with `cryptography` (the independent signer's library) is here; panics
/// in CI when it is not.
fn signer_ready(test: &str) -> bool {
    let ready = Command::new("python3")
        .args(["-c", "import cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: python3 with `cryptography` missing in CI; .ci/run installs it");
    }
    if !ready {
        portcullis_tests::say_skipped(&format!(
            "{test}: python3 with `cryptography` not installed (pip install cryptography)"
        ));
    }
    ready
}

/// The digest of what `reference` names in the registry, as the registry stores it.
fn registry_digest(reference: &str) -> String {
    let raw = run_tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    );
    format!("sha256:{}", sha256_hex(&raw.stdout))
}

/// Cosign signatures (`.sig` tag), a Sigstore bundle and a Notation envelope (referrers,
/// tag schema: Debian's docker-registry has no referrers API) made by an independent
/// signer (tests/signer/push_signatures.py, Python `cryptography`), pushed to a real
/// registry, collected by `facts collect` and `check --pull-facts`, verified by `check`.
#[test]
fn registry_signatures_are_collected_and_verified_end_to_end() {
    let test = "registry_signatures_are_collected_and_verified_end_to_end";
    if !tools_ready(test) || !signer_ready(test) {
        return;
    }
    let images = images();
    let dir = scratch_dir("image-sources-signatures");
    // A fourth image, so that each case has its own digest (facts are keyed by digest).
    let plain_root = dir.join("plain-root");
    rootfs(&plain_root, &[("app", b"\x7fELF unsigned app")], &[]);
    let plain_layout = dir.join("plain-layout");
    build_image(
        &dir,
        &plain_layout,
        "4.0",
        &plain_root,
        &["--config.user", "65532"],
    );
    let registry = Registry::start(&dir, None);
    registry.push(&images.static_layout, "2.0", "shop/signed:2.0", false);
    registry.push(&images.shell_layout, "1.0", "shop/other:1.0", false);
    registry.push(&images.multi_layout, "3.0", "shop/tampered:3.0", true);
    registry.push(&plain_layout, "4.0", "shop/plain:4.0", false);
    let host = registry.host();
    let signed = format!("{host}/shop/signed:2.0");
    let other = format!("{host}/shop/other:1.0");
    // A multi-platform tag: its signature is the index's, as `cosign sign` makes it.
    let tampered = format!("{host}/shop/tampered:3.0");
    let plain = format!("{host}/shop/plain:4.0");
    let signed_digest = registry_digest(&signed);
    let tampered_index = registry_digest(&tampered);
    let trust = dir.join("trust");
    let pushed = Command::new("python3")
        .arg(workspace_root().join("tests/signer/push_signatures.py"))
        .arg(&host)
        .arg(&trust)
        .arg(format!("shop/signed@{signed_digest}"))
        .arg(format!("shop/other@{}", registry_digest(&other)))
        .arg(format!("shop/tampered@{tampered_index}"))
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", stderr(&pushed));

    let facts_file = dir.join("image-facts.json");
    let output = portcullis(&[
        "facts",
        "collect",
        &signed,
        &other,
        &tampered,
        &plain,
        "--no-facts-cache",
        "-o",
        facts_file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let file = read_facts(&facts_file);
    let signatures = |digest: &str| file.images[digest].signatures.clone().unwrap();
    let kinds: Vec<(String, String)> = signatures(&signed_digest)
        .found
        .iter()
        .map(|f| {
            let kind = serde_json::to_value(&f.material).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string();
            (f.source.clone(), kind)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = kinds
        .iter()
        .map(|(s, k)| (s.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("cosign-tag", "cosign"),
            ("referrers-tag", "sigstore-bundle"),
            ("referrers-tag", "notation")
        ]
    );
    let (tampered_key, tampered_facts) = file
        .images
        .iter()
        .find(|(_, f)| {
            f.references
                .iter()
                .any(|r| r.ends_with("shop/tampered:3.0"))
        })
        .unwrap();
    assert_ne!(
        tampered_key, &tampered_index,
        "the tag resolves to a platform"
    );
    let tampered_found = &tampered_facts.signatures.as_ref().unwrap().found;
    assert_eq!(tampered_found.len(), 1);
    assert_eq!(tampered_found[0].digest, tampered_index);
    let plain_facts = file
        .images
        .values()
        .find(|f| f.references.iter().any(|r| r.ends_with("shop/plain:4.0")))
        .unwrap();
    assert_eq!(
        plain_facts.signatures,
        Some(Default::default()),
        "an unsigned image has no signatures and no problems"
    );

    let pods = dir.join("pods.yaml");
    std::fs::write(
        &pods,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers:\n    - {{name: signed, image: \"{signed}\"}}\n    - {{name: other, image: \"{other}\"}}\n    - {{name: tampered, image: \"{tampered}\"}}\n    - {{name: plain, image: \"{plain}\"}}\n"
        ),
    )
    .unwrap();
    let read = |name: &str| std::fs::read_to_string(trust.join(name)).unwrap();
    let config = |name: &str, settings: serde_json::Value| -> PathBuf {
        let mut settings = settings;
        settings["enabled"] = true.into();
        let path = dir.join(format!("{name}.yaml"));
        let text = serde_json::json!({"rules": {"unsigned-image": settings}});
        std::fs::write(&path, text.to_string()).unwrap();
        path
    };
    let keys = config("keys", serde_json::json!({"keys": [read("key.pub")]}));
    let wrong = config("wrong", serde_json::json!({"keys": [read("wrong.pub")]}));
    let keyless = config(
        "keyless",
        serde_json::json!({
            "identities": [{"issuer": read("issuer.txt"), "subject-regexp": "^https://github.com/acme/"}],
            "trusted-root": read("trusted_root.json"),
        }),
    );
    let notation = config(
        "notation",
        serde_json::json!({"notation": {"trust-store": [read("notation-root.pem")], "level": "strict"}}),
    );
    let verdicts = |config: &Path, facts: &[&str]| -> Vec<String> {
        let mut args = vec![
            "check",
            pods.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--select",
            "unsigned-image",
            "--format",
            "json",
        ];
        args.extend_from_slice(facts);
        let output = portcullis(&args);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", stderr(&output)));
        let mut found: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f["container"].as_str().unwrap(),
                    f["message"].as_str().unwrap()
                )
            })
            .collect();
        found.sort();
        found
    };
    let from_file = ["--image-facts", facts_file.to_str().unwrap()];
    let rejected = |verdicts: &[String], expected: &[(&str, &str)]| {
        assert_eq!(verdicts.len(), expected.len(), "{verdicts:#?}");
        for ((name, reason), verdict) in expected.iter().zip(verdicts) {
            assert!(
                verdict.starts_with(&format!("{name}: image `")) && verdict.contains(reason),
                "`{verdict}` does not say `{reason}` for `{name}`"
            );
        }
    };
    let other_digest =
        format!("has a signature for another digest: signature is for `{signed_digest}`");
    let bad_signature = "is signed, but no signature verifies with a trusted key";
    let by_key = verdicts(&keys, &from_file);
    rejected(
        &by_key,
        &[
            ("other", &other_digest),
            ("plain", "has no signature"),
            ("tampered", bad_signature),
        ],
    );
    // The keyless bundle and the Notation envelope of `signed` verify on their own; the
    // cosign signatures of the others are no keyless or Notation signatures.
    for config in [&keyless, &notation] {
        let verdicts = verdicts(config, &from_file);
        assert_eq!(verdicts.len(), 3, "{verdicts:#?}");
        assert!(
            verdicts.iter().all(|v| !v.starts_with("signed:")),
            "{verdicts:#?}"
        );
    }
    // Another key: `signed` is rejected too.
    let by_wrong = verdicts(&wrong, &from_file);
    assert_eq!(by_wrong.len(), 4, "{by_wrong:#?}");
    // Its bundle and Notation envelope are of kinds this policy does not trust: the
    // verdict is about keys.
    assert!(
        by_wrong
            .iter()
            .any(|v| v.starts_with("signed: image `") && v.contains(bad_signature)),
        "{by_wrong:#?}"
    );
    // --pull-facts collects the same signatures and reaches the same verdicts.
    let cache = dir.join("cache");
    let pulled = ["--pull-facts", "--facts-cache", cache.to_str().unwrap()];
    assert_eq!(verdicts(&keys, &pulled), by_key);
    // From the cache, signatures are still read from the registry (never cached).
    assert_eq!(verdicts(&keys, &pulled), by_key);
}

/// The OCI 1.1 referrers API (which Debian's docker-registry lacks), and the caps on
/// signature collection: at most 64 signatures and 512 KiB per signature per image;
/// referrers of another subject and registry errors are problems in the facts, and the
/// image is still collected.
#[test]
fn signatures_from_the_referrers_api_within_their_caps() {
    use std::collections::HashMap;
    fn sha(bytes: &[u8]) -> String {
        format!("sha256:{}", sha256_hex(bytes))
    }
    fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
        serde_json::json!({"mediaType": media_type, "digest": sha(bytes), "size": bytes.len()})
    }
    let image = small_image();
    let subject = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": image.manifest_digest, "size": image.manifest.len(),
    });
    let mut paths: HashMap<String, Vec<u8>> = HashMap::new();
    let empty = b"{}".to_vec();
    paths.insert(format!("blobs/{}", sha(&empty)), empty.clone());
    let mut referrer =
        |artifact_type: &str, layer_type: &str, blob: Vec<u8>, subject: &serde_json::Value| {
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": artifact_type,
                "config": descriptor("application/vnd.oci.empty.v1+json", &empty),
                "layers": [descriptor(layer_type, &blob)],
                "subject": subject,
            }))
            .unwrap();
            paths.insert(format!("blobs/{}", sha(&blob)), blob);
            let mut entry = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
            entry["artifactType"] = artifact_type.into();
            paths.insert(format!("manifests/{}", sha(&manifest)), manifest);
            entry
        };
    let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec();
    let elsewhere = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(b"another image"), "size": 13,
    });
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            referrer(bundle_type, bundle_type, bundle, &subject),
            referrer("application/spdx+json", "application/spdx+json", b"{\"spdx\":1}".to_vec(), &subject),
            referrer("application/vnd.cncf.notary.signature", "application/jose+json", vec![b'x'; 600 << 10], &subject),
            referrer(bundle_type, bundle_type, br#"{"other":1}"#.to_vec(), &elsewhere),
        ],
    }))
    .unwrap();
    // 70 cosign signatures in one `.sig` image: only 64 are read.
    let payloads: Vec<Vec<u8>> = (0..70)
        .map(|i| format!("{{\"payload\":{i}}}").into_bytes())
        .collect();
    let layers: Vec<serde_json::Value> = payloads
        .iter()
        .map(|p| {
            let mut layer = descriptor("application/vnd.dev.cosign.simplesigning.v1+json", p);
            layer["annotations"] =
                serde_json::json!({"dev.cosignproject.cosign/signature": "MEUCIQ=="});
            layer
        })
        .collect();
    for payload in payloads {
        paths.insert(format!("blobs/{}", sha(&payload)), payload);
    }
    let sig_manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &empty),
        "layers": layers,
    }))
    .unwrap();
    let tag = image.manifest_digest.replace(':', "-");
    let paths = std::sync::Arc::new(paths);
    let port = fake_registry(move |path| {
        let Some((repository, rest)) = path.strip_prefix("/v2/").and_then(|p| {
            p.split_once("/manifests/")
                .map(|(r, t)| (r, format!("manifests/{t}")))
                .or_else(|| {
                    p.split_once("/blobs/")
                        .map(|(r, t)| (r, format!("blobs/{t}")))
                })
                .or_else(|| {
                    p.split_once("/referrers/")
                        .map(|(r, t)| (r, format!("referrers/{t}")))
                })
        }) else {
            return small_image_route(path).unwrap_or(Reply::Missing);
        };
        match (repository, rest.as_str()) {
            ("shop/api", r) if r.starts_with("referrers/") => {
                Reply::Body("application/vnd.oci.image.index.v1+json", index.clone())
            }
            ("shop/many", r) if r == format!("manifests/{tag}.sig") => Reply::Body(
                "application/vnd.oci.image.manifest.v1+json",
                sig_manifest.clone(),
            ),
            ("shop/broken", r) if r.starts_with("referrers/") || r.ends_with(".sig") => {
                Reply::Endless(500)
            }
            (_, r) => match paths.get(r) {
                Some(body) => Reply::Body("application/octet-stream", body.clone()),
                None => small_image_route(path).unwrap_or(Reply::Missing),
            },
        }
    });
    let dir = scratch_dir("image-sources-referrers-api");
    let collect = |repository: &str| -> ImageFacts {
        let out = dir.join(format!("{}.json", repository.replace('/', "-")));
        let output = portcullis_within(
            &[
                "facts",
                "collect",
                &format!("127.0.0.1:{port}/{repository}:1.0"),
                "--registry-timeout",
                "5",
                "--no-facts-cache",
                "-o",
                out.to_str().unwrap(),
            ],
            Duration::from_secs(60),
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let file = read_facts(&out);
        only_image(&file).1.clone()
    };

    let api = collect("shop/api").signatures.unwrap();
    let sources: Vec<&str> = api.found.iter().map(|f| f.source.as_str()).collect();
    assert_eq!(sources, ["referrers"], "{api:#?}");
    assert!(matches!(
        &api.found[0].material,
        portcullis_engine::facts::SignatureMaterial::SigstoreBundle { .. }
    ));
    assert_eq!(api.found[0].digest, image.manifest_digest);
    assert_eq!(api.problems.len(), 2, "{:#?}", api.problems);
    assert!(
        api.problems[0].contains("is 600.0 KiB, over the cap of 512.0 KiB for a signature"),
        "{:#?}",
        api.problems
    );
    assert!(
        api.problems[1].contains(&format!(
            "refers to {}, not to this image",
            sha(b"another image")
        )),
        "{:#?}",
        api.problems
    );

    let many = collect("shop/many").signatures.unwrap();
    assert_eq!(many.found.len(), 64);
    assert_eq!(
        many.problems,
        ["more than 64 signatures: the rest were not read"]
    );

    let broken = collect("shop/broken").signatures.unwrap();
    assert!(broken.found.is_empty());
    assert_eq!(broken.problems.len(), 2, "{:#?}", broken.problems);
    assert!(
        broken.problems.iter().all(|p| p.contains("HTTP 500")),
        "{:#?}",
        broken.problems
    );
}

/// `portcullis serve --pull-facts`: the first request for an image looks its facts up in the
/// registry; `/mutate` pins the tag to the manifest digest found there, `/validate` runs the
/// image rules on those facts, and the next request is served from the cache.
#[test]
fn the_admission_server_pulls_facts_and_pins_digests() {
    let port = fake_registry(|path| small_image_route(path).unwrap_or(Reply::Missing));
    let listen = format!("127.0.0.1:{}", free_port());
    let dir = scratch_dir("image-sources-serve");
    let mut server = Command::new(portcullis_binary())
        .args([
            "serve",
            "--insecure-http",
            "--listen",
            &listen,
            "--pull-facts",
            "--no-facts-cache",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("portcullis serve starts");
    let post = |path: &str, body: &serde_json::Value| -> serde_json::Value {
        let output = Command::new("curl")
            .args([
                "-sS",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ])
            .arg(format!("http://{listen}{path}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut curl| {
                curl.stdin
                    .take()
                    .unwrap()
                    .write_all(body.to_string().as_bytes())?;
                curl.wait_with_output()
            })
            .expect("curl runs");
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
    };
    let started = Instant::now();
    while Command::new("curl")
        .args(["-sf", &format!("http://{listen}/readyz")])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never got ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let image = format!("127.0.0.1:{port}/shop/app:1.0");
    let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "pull-1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "shop",
            "operation": "CREATE", "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": image}]}}}});
    let mutated = post("/mutate", &review);
    use base64::Engine as _;
    let patch: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(
                mutated["response"]["patch"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no patch: {mutated}")),
            )
            .unwrap(),
    )
    .unwrap();
    let pinned = format!("{image}@{}", small_image().manifest_digest);
    assert_eq!(
        patch,
        serde_json::json!([{"op": "replace", "path": "/spec/containers/0/image", "value": pinned}])
    );
    let validated = post("/validate", &review);
    let message = validated["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    // The image's config says no user (root), which only its facts show.
    assert!(message.contains("image-runs-as-root"), "{validated}");
    let _ = server.kill();
    let _ = server.wait();
}
