//! Dockerfiles as workloads: one container per build stage, so that the rules read a
//! Dockerfile the way they read a pod.
//!
//! A stage's image is what its `FROM` names, after `ARG` substitution: a registry image
//! (checked for provenance like any container's), an earlier stage or `scratch` (no registry
//! image: [`ImageKind::Stage`], [`ImageKind::Scratch`]). Its `env` holds the values the file
//! writes in `ENV` and in `ARG` defaults (the global `ARG`s belong to the first stage), as
//! written, so that a value is judged where it is written. Field paths name the stage and
//! the instruction (`stages[1].from`, `stages[1].env.DB_PASSWORD`), and each finding
//! carries the line of the instruction it points at.

use std::sync::Arc;

use serde_json::Value;

use super::{Container, EnvVar, Image, ImageKind, Role, SecurityContext, Workload};
use crate::dockerfile::{BaseKind, Dockerfile, Stage};
use crate::image::{ImageRef, ImageRefError};

/// The kind a Dockerfile workload has.
pub const DOCKERFILE_KIND: &str = "Dockerfile";

/// One stage of a Dockerfile, as its container carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStage {
    /// The whole file (shared by the stages).
    pub file: Arc<Dockerfile>,
    /// The stage's position in the file.
    pub index: usize,
    /// Field path and line of each entry of the container's `env`, in the same order.
    env_sites: Vec<(String, usize)>,
}

impl BuildStage {
    /// The stage itself.
    pub fn stage(&self) -> &Stage {
        &self.file.stages[self.index]
    }

    /// Field path and line of `field` (a path below the container).
    pub fn locate(&self, field: &str) -> (String, Option<usize>) {
        let stage = self.stage();
        let prefix = format!("stages[{}]", self.index);
        let from = (format!("{prefix}.from"), Some(stage.from.line));
        let head = field.split(['.', '[']).next().unwrap_or("");
        match head {
            "" => (prefix, Some(stage.from.line)),
            "image" => from,
            // The user a stage runs as: its last USER, possibly in a stage it is built on.
            "securityContext" | "user" => match &stage.final_user {
                Some(user) => (format!("stages[{}].user", user.stage), Some(user.line)),
                None => from,
            },
            "env" => match index_of(field).and_then(|i| self.env_sites.get(i)) {
                Some((path, line)) => (path.clone(), Some(*line)),
                None => (format!("{prefix}.{field}"), Some(stage.from.line)),
            },
            "instructions" => match index_of(field).and_then(|i| stage.instructions.get(i)) {
                Some(instruction) => (
                    format!("{prefix}.instructions[{}]", index_of(field).unwrap_or(0)),
                    Some(instruction.line),
                ),
                None => (format!("{prefix}.{field}"), Some(stage.from.line)),
            },
            _ => (format!("{prefix}.{field}"), Some(stage.from.line)),
        }
    }
}

/// The stage whose base the file system of stage `index` starts from: itself, or for a
/// stage built on an earlier stage, that stage's root.
pub(crate) fn root_stage(file: &Dockerfile, index: usize) -> usize {
    let mut index = index;
    // Stages only build on earlier ones, so this ends; the bound is for certainty.
    for _ in 0..file.stages.len() {
        match file.stages[index].base.stage {
            Some(parent) if parent < index => index = parent,
            _ => break,
        }
    }
    index
}

/// `2` of `env[2].value`.
fn index_of(field: &str) -> Option<usize> {
    let (_, rest) = field.split_once('[')?;
    rest.split_once(']')?.0.parse().ok()
}

/// The workload of a parsed Dockerfile named `name`; `None` when it has no stage.
pub(crate) fn from_dockerfile(name: &str, file: Dockerfile) -> Option<Workload> {
    if file.stages.is_empty() {
        return None;
    }
    let file = Arc::new(file);
    let last = file.stages.len() - 1;
    let containers = file
        .stages
        .iter()
        .map(|stage| {
            let (env, env_sites) = stage_env(&file, stage);
            Arc::new(Container {
                name: stage
                    .name
                    .clone()
                    .unwrap_or_else(|| stage.index.to_string()),
                role: if stage.index == last {
                    Role::Final
                } else {
                    Role::Stage
                },
                path: format!("stages[{}]", stage.index),
                image: Arc::new(stage_image(stage)),
                image_pull_policy_set: None,
                image_pull_policy: String::new(),
                security: SecurityContext::default(),
                env,
                command: Vec::new(),
                args: Vec::new(),
                build: Some(Arc::new(BuildStage {
                    file: file.clone(),
                    index: stage.index,
                    env_sites,
                })),
                source: None,
            })
        })
        .collect();
    Some(Workload {
        kind: DOCKERFILE_KIND.to_string(),
        api_version: String::new(),
        name: name.to_string(),
        namespace: String::new(),
        // A Dockerfile has no namespace to default.
        namespace_given: true,
        service_account_name: None,
        image_pull_secrets: Vec::new(),
        pod_spec_path: String::new(),
        containers,
        // A Dockerfile names no node to run on.
        os: None,
        raw: Arc::new(Value::Null),
        document: 0,
        line: 1,
        item: None,
        dockerfile: Some(file),
    })
}

/// The image a stage's `FROM` names.
pub(crate) fn stage_image(stage: &Stage) -> Image {
    let base = &stage.base;
    let not_registry = |kind: ImageKind, reason: &str| Image {
        raw: base.value.clone(),
        parsed: Err(ImageRefError {
            reference: base.value.clone(),
            reason: reason.to_string(),
        }),
        kind,
    };
    match base.kind {
        BaseKind::Image => Image {
            raw: base.value.clone(),
            parsed: ImageRef::parse(&base.value).map_err(|mut error| {
                if !base.unset.is_empty() {
                    error.reason.push_str(&format!(
                        " (`FROM {}`: {} no value; give the ARG a default or pass `--build-arg`)",
                        base.raw,
                        quoted_list(&base.unset)
                    ));
                }
                error
            }),
            kind: ImageKind::Registry,
        },
        BaseKind::Stage => not_registry(ImageKind::Stage, "an earlier stage, not a registry image"),
        BaseKind::Scratch => not_registry(ImageKind::Scratch, "`scratch`, not a registry image"),
        BaseKind::Blank => not_registry(ImageKind::Unknown, "the base name is blank"),
    }
}

fn quoted_list(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let verb = if names.len() == 1 { "has" } else { "have" };
    format!("{} {verb}", list.join(", "))
}

/// The values the stage writes (`ARG` defaults and `ENV`, in line order; the global `ARG`s
/// first, for the first stage) and where each is written.
fn stage_env(file: &Dockerfile, stage: &Stage) -> (Vec<EnvVar>, Vec<(String, usize)>) {
    let mut entries: Vec<(usize, EnvVar, String)> = Vec::new();
    if stage.index == 0 {
        for arg in &file.global_args {
            entries.push((
                arg.line,
                arg_var(&arg.name, arg.default_literal.as_deref()),
                format!("global_args.{}", arg.name),
            ));
        }
    }
    for arg in &stage.args {
        entries.push((
            arg.line,
            arg_var(&arg.name, arg.default_literal.as_deref()),
            format!("stages[{}].args.{}", stage.index, arg.name),
        ));
    }
    for env in &stage.env {
        entries.push((
            env.line,
            EnvVar {
                name: env.name.clone(),
                value: Some(env.literal.clone()),
                value_from: false,
            },
            format!("stages[{}].env.{}", stage.index, env.name),
        ));
    }
    // Stable: several variables of one instruction keep their order.
    entries.sort_by_key(|(line, ..)| *line);
    entries
        .into_iter()
        .map(|(line, var, path)| (var, (path, line)))
        .unzip()
}

fn arg_var(name: &str, default: Option<&str>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: default.map(str::to_string),
        value_from: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::{ParseOptions, parse_with};

    fn workload(text: &str) -> Workload {
        from_dockerfile("Dockerfile", parse_with(text, &ParseOptions::default())).unwrap()
    }

    #[test]
    fn one_container_per_stage_with_what_its_from_names() {
        let w = workload(
            "ARG GO=1.23\nFROM golang:${GO} AS build\nFROM build AS test\nFROM scratch\nFROM ${NOPE}alpine:3.20\n",
        );
        let kinds: Vec<(&str, &str, ImageKind, Role)> = w
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.image.raw.as_str(), c.image.kind, c.role))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("build", "golang:1.23", ImageKind::Registry, Role::Stage),
                ("test", "build", ImageKind::Stage, Role::Stage),
                ("2", "scratch", ImageKind::Scratch, Role::Stage),
                // An unset variable becomes "", as BuildKit does.
                ("3", "alpine:3.20", ImageKind::Registry, Role::Final),
            ]
        );
        assert!(w.containers[0].image.valid().is_some());
        assert!(w.containers[1].image.valid().is_none());
        assert_eq!(w.kind, DOCKERFILE_KIND);
        let test = w.containers[1].build.as_ref().unwrap();
        assert_eq!(root_stage(&test.file, test.index), 0);
        assert_eq!(root_stage(&test.file, 3), 3);
    }

    #[test]
    fn an_invalid_reference_from_an_unset_variable_says_so() {
        let w = workload("ARG GO\nFROM golang:${GO}\n");
        let error = w.containers[0].image.parsed.as_ref().unwrap_err();
        assert!(error.reason.contains("`GO` has no value"), "{error:?}");
    }

    #[test]
    fn env_holds_arg_defaults_and_env_as_written_with_their_lines() {
        let w = workload(
            "ARG TOKEN=abc\nFROM alpine:3.20 AS a\nARG PASS=\"x y\"\nENV A=1 B=$PASS\nARG NODEFAULT\nFROM a\nENV C=3\n",
        );
        let first = &w.containers[0];
        let env: Vec<(&str, Option<&str>)> = first
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            env,
            vec![
                ("TOKEN", Some("abc")),
                ("PASS", Some("x y")),
                ("A", Some("1")),
                // As written: the value is reported where it is written, at the ARG.
                ("B", Some("$PASS")),
                ("NODEFAULT", None),
            ]
        );
        assert_eq!(
            first.locate("env[0].value"),
            ("global_args.TOKEN".to_string(), Some(1))
        );
        assert_eq!(
            first.locate("env[3].value"),
            ("stages[0].env.B".to_string(), Some(4))
        );
        let second = &w.containers[1];
        assert_eq!(second.env.len(), 1);
        assert_eq!(
            second.locate("env[0].value"),
            ("stages[1].env.C".to_string(), Some(7))
        );
    }

    #[test]
    fn findings_point_at_the_instruction() {
        let w = workload(
            "FROM node:22 AS base\nUSER node\nFROM base\nRUN true\nADD https://x.io/a /a\n",
        );
        let last = &w.containers[1];
        assert_eq!(
            last.locate("image"),
            ("stages[1].from".to_string(), Some(3))
        );
        // The user comes from the stage it is built on.
        assert_eq!(
            last.locate("securityContext.runAsNonRoot"),
            ("stages[0].user".to_string(), Some(2))
        );
        assert_eq!(
            last.locate_path("stages[1].securityContext.runAsUser"),
            ("stages[0].user".to_string(), Some(2))
        );
        assert_eq!(
            last.locate("instructions[1]"),
            ("stages[1].instructions[1]".to_string(), Some(5))
        );
        let first = &w.containers[0];
        assert_eq!(
            first.locate("securityContext.runAsNonRoot"),
            ("stages[0].user".to_string(), Some(2))
        );
        assert_eq!(first.locate(""), ("stages[0]".to_string(), Some(1)));
    }

    #[test]
    fn a_file_without_stages_is_no_workload() {
        assert!(from_dockerfile("x", parse_with("ARG A=1\n", &ParseOptions::default())).is_none());
    }
}
