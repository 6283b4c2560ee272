//! A deterministic generator of varied Deployments, for benchmarks and size tests.

/// xorshift64*: deterministic, no dependency, good enough to vary manifests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const IMAGES: [&str; 12] = [
    "nginx",
    "nginx:latest",
    "nginx:1.27.3",
    "docker.io/library/redis:7.4",
    "registry.company.com/shop/api:2.3.1",
    "registry.company.com/shop/worker",
    "ghcr.io/acme/tool:v0.9.0",
    "quay.io/prometheus/node-exporter:v1.8.2",
    "bitnami/postgresql:16",
    "localhost:5000/dev/app:dev",
    "gcr.io/distroless/static:nonroot",
    "registry.k8s.io/pause:3.10",
];

const DIGEST: &str = "sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac";

/// The `i`-th Deployment of the corpus, as YAML (about 40-90 lines).
pub fn deployment(i: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64).wrapping_mul(0x1000_0000_01B3) | 1);
    let name = format!("app-{i}");
    let namespace = rng.pick(&["shop", "payments", "dev-team", "default", "monitoring"]);
    let mut out = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    app: {name}\n    team: {}\nspec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n",
        rng.pick(&["red", "blue", "green"]),
        1 + rng.below(5)
    );
    if rng.chance(40) {
        out.push_str(
            "      securityContext:\n        runAsNonRoot: true\n        runAsUser: 10001\n",
        );
    }
    if rng.chance(30) {
        out.push_str("      imagePullSecrets:\n      - name: regcred\n");
    }
    out.push_str(&format!("      serviceAccountName: {name}\n"));
    if rng.chance(30) {
        out.push_str("      initContainers:\n");
        container(&mut rng, &mut out, "migrate");
    }
    out.push_str("      containers:\n");
    for c in 0..1 + rng.below(3) {
        container(&mut rng, &mut out, &format!("c{c}"));
    }
    out
}

fn container(rng: &mut Rng, out: &mut String, name: &str) {
    let mut image = rng.pick(&IMAGES).to_string();
    if rng.chance(25) {
        image = format!("{}@{DIGEST}", image);
    }
    out.push_str(&format!("      - name: {name}\n        image: {image}\n"));
    if rng.chance(50) {
        let policy = rng.pick(&["Always", "IfNotPresent", "Never"]);
        out.push_str(&format!("        imagePullPolicy: {policy}\n"));
    }
    out.push_str("        ports:\n        - containerPort: 8080\n");
    out.push_str("        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n          limits: {memory: 256Mi}\n");
    if rng.chance(60) {
        out.push_str("        securityContext:\n");
        if rng.chance(60) {
            out.push_str("          readOnlyRootFilesystem: true\n");
        }
        if rng.chance(60) {
            out.push_str("          allowPrivilegeEscalation: false\n");
        }
        if rng.chance(10) {
            out.push_str("          privileged: true\n");
        }
        if rng.chance(15) {
            out.push_str("          runAsUser: 0\n");
        }
        if rng.chance(50) {
            out.push_str("          capabilities:\n            drop: [ALL]\n");
        }
    }
    out.push_str("        env:\n        - name: LOG_LEVEL\n          value: info\n");
    if rng.chance(10) {
        out.push_str("        - name: DB_PASSWORD\n          value: hunter2-not-a-real-one\n");
    } else {
        out.push_str("        - name: DB_PASSWORD\n          valueFrom:\n            secretKeyRef: {name: db, key: password}\n");
    }
    if rng.chance(3) {
        out.push_str("        - name: AWS_KEY\n          value: AKIAIOSFODNN7EXAMPLE\n");
    }
}

/// `n` Deployments as one multi-document YAML stream.
pub fn stream(n: usize) -> String {
    (0..n).map(deployment).collect::<Vec<_>>().join("---\n")
}

/// The workloads of a YAML stream, loaded and normalized; panics on a problem (the corpus
/// is all workloads).
pub fn workloads(text: &str) -> portcullis_engine::Workloads {
    let loaded = portcullis_engine::Source::from_text("corpus.yaml", text).load();
    assert!(
        loaded.diagnostics.is_empty(),
        "corpus documents load: {:?}",
        loaded.diagnostics
    );
    loaded
}
