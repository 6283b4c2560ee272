//! The image config blob (`application/vnd.oci.image.config.v1+json`, or Docker's) ->
//! platform and config facts.

use std::collections::BTreeMap;

use portcullis_engine::facts::{ConfigFacts, EnvSecret, Platform, env_secret};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ImageConfig {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RunConfig>,
}

/// Docker writes `null` for unset lists and maps; `Option` takes both.
#[derive(Debug, Default, Deserialize)]
struct RunConfig {
    #[serde(rename = "User", default)]
    user: Option<String>,
    #[serde(rename = "Env", default)]
    env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Platform and config facts from the config blob. ENV values are read to find
/// credentials and then dropped.
pub fn parse_config(bytes: &[u8]) -> Result<(Option<Platform>, ConfigFacts), String> {
    let config: ImageConfig =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid image config: {e}"))?;
    let platform = (!config.os.is_empty()).then(|| Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone().filter(|v| !v.is_empty()),
    });
    let run = config.config.unwrap_or_default();
    let mut env = Vec::new();
    let mut env_secrets = Vec::new();
    for entry in run.env.unwrap_or_default() {
        let (name, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        if let Some(reason) = env_secret(name, value) {
            env_secrets.push(EnvSecret {
                name: name.to_string(),
                reason,
            });
        }
        env.push(name.to_string());
    }
    Ok((
        platform,
        ConfigFacts {
            user: run.user.unwrap_or_default(),
            env,
            env_secrets,
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            labels: run.labels.unwrap_or_default(),
            created: config.created,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_nulls_env_names_and_secrets() {
        let (platform, config) = parse_config(
            br#"{"architecture":"arm64","os":"linux","variant":"v8","created":"2024-01-02T03:04:05Z",
                 "config":{"User":"","Env":["PATH=/usr/bin","DB_PASSWORD=hunter2","GH=ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
                           "Entrypoint":null,"Cmd":["sh"],"Labels":null},
                 "rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let platform = platform.unwrap();
        assert_eq!(
            (platform.os.as_str(), platform.architecture.as_str()),
            ("linux", "arm64")
        );
        assert_eq!(config.env, vec!["PATH", "DB_PASSWORD", "GH"]);
        let names: Vec<_> = config.env_secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["DB_PASSWORD", "GH"]);
        assert!(config.entrypoint.is_empty() && config.labels.is_empty());
        assert!(config.user_is_root());
        // No value reaches the facts.
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            !json.contains("hunter2") && !json.contains("ghp_"),
            "{json}"
        );
        assert!(parse_config(b"[1]").is_err());
    }
}
