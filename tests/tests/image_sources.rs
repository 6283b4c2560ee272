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
    let from_registry = collect(&[], "registry.json");
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
    let again = collect(&[], "registry-again.json");
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
        let file = read_facts(&out);
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
