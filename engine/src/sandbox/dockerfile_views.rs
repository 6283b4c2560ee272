//! The rule API for Dockerfiles: where a subject came from, its stages and instructions.
//!
//! A Dockerfile reaches rules as a workload of kind `Dockerfile` with a container per build
//! stage; these functions add what only a Dockerfile has. Instructions are plain maps
//! (built when asked for), so rules read them with the core language.

use std::sync::Arc;

use rhai::{Array, Dynamic, ImmutableString, Map};

use super::{ContainerView, ImageView, WorkloadView, opt, opt_str, string_array};
use crate::dockerfile::{Dockerfile, Instruction, Stage};
use crate::facts::FactsIndex;

/// A Dockerfile as rules see it (`workload.dockerfile`).
#[derive(Debug, Clone)]
pub struct DockerfileView(pub Arc<Dockerfile>, pub Option<Arc<FactsIndex>>);

/// A build stage as rules see it (`c.stage`, `workload.dockerfile.stages`).
#[derive(Debug, Clone)]
pub struct StageView(pub Arc<Dockerfile>, pub usize, pub Option<Arc<FactsIndex>>);

impl StageView {
    fn stage(&self) -> &Stage {
        &self.0.stages[self.1]
    }
}

/// An instruction as a map (see `Stage.instructions`).
fn instruction_map(instruction: &Instruction, stage: Option<usize>) -> Dynamic {
    let mut map = Map::new();
    map.insert("keyword".into(), instruction.keyword.as_str().into());
    map.insert("line".into(), (instruction.line as rhai::INT).into());
    map.insert(
        "end_line".into(),
        (instruction.end_line as rhai::INT).into(),
    );
    map.insert("column".into(), (instruction.column as rhai::INT).into());
    map.insert("original".into(), instruction.original.as_str().into());
    map.insert("flags".into(), string_array(&instruction.flags).into());
    map.insert("args".into(), string_array(&instruction.args).into());
    map.insert("json".into(), instruction.json.into());
    // The arguments as the instruction sees them: substituted words (COPY, ADD), else the
    // JSON array's strings.
    let words = if instruction.words.is_empty() && instruction.json {
        &instruction.args
    } else {
        &instruction.words
    };
    map.insert("words".into(), string_array(words).into());
    let heredocs: Array = instruction
        .heredocs
        .iter()
        .map(|h| {
            let mut doc = Map::new();
            doc.insert("name".into(), h.name.as_str().into());
            doc.insert("content".into(), h.text().into());
            doc.insert("line".into(), (h.line as rhai::INT).into());
            doc.insert("end_line".into(), (h.end_line as rhai::INT).into());
            Dynamic::from_map(doc)
        })
        .collect();
    map.insert("heredocs".into(), heredocs.into());
    map.insert(
        "trigger".into(),
        instruction
            .trigger
            .as_deref()
            .map_or(Dynamic::UNIT, |t| instruction_map(t, stage)),
    );
    map.insert("stage".into(), opt(stage.map(|s| s as rhai::INT)));
    Dynamic::from_map(map)
}

fn arg_map(arg: &crate::dockerfile::ArgDef) -> Dynamic {
    let mut map = Map::new();
    map.insert("name".into(), arg.name.as_str().into());
    map.insert("default".into(), opt_str(arg.default_literal.as_deref()));
    map.insert("value".into(), opt_str(arg.value.as_deref()));
    map.insert("line".into(), (arg.line as rhai::INT).into());
    Dynamic::from_map(map)
}

/// The functions rules use on Dockerfiles; part of the rule API.
#[rhai::export_module]
pub mod dockerfile_api {
    use super::*;

    pub type Workload = WorkloadView;
    pub type Container = ContainerView;
    pub type Image = ImageView;
    pub type Dockerfile = DockerfileView;
    pub type Stage = StageView;

    /// The parsed Dockerfile when the workload is one (its `kind` is then `Dockerfile`);
    /// `()` for a Kubernetes object. A rule reads Dockerfiles only when its `META` says
    /// `inputs: ["manifests", "dockerfiles"]` (or `["dockerfiles"]`).
    #[rhai_fn(get = "dockerfile", pure)]
    pub fn workload_dockerfile(w: &mut Workload) -> Dynamic {
        w.0.dockerfile.as_ref().map_or(Dynamic::UNIT, |file| {
            Dynamic::from(DockerfileView(file.clone(), w.1.clone()))
        })
    }

    /// The build stage this container stands for, in a Dockerfile; `()` for a container
    /// of a Kubernetes object.
    #[rhai_fn(get = "stage", pure)]
    pub fn container_stage(c: &mut Container) -> Dynamic {
        c.0.build.as_ref().map_or(Dynamic::UNIT, |build| {
            Dynamic::from(StageView(build.file.clone(), build.index, c.1.clone()))
        })
    }

    /// What the image names: `registry` (every image of a manifest, and a `FROM` that
    /// names one), `stage` (a `FROM` an earlier stage), `scratch` (`FROM scratch`) or
    /// `unknown` (a `FROM` whose variables leave nothing). Only `registry` images are
    /// pulled, so only they can be invalid or untrusted.
    #[rhai_fn(get = "kind", pure)]
    pub fn image_kind(i: &mut Image) -> ImmutableString {
        i.0.kind.as_str().into()
    }

    // ---- Dockerfile ----

    /// The build stages, one per `FROM`, in file order.
    #[rhai_fn(get = "stages", pure)]
    pub fn dockerfile_stages(d: &mut Dockerfile) -> Array {
        (0..d.0.stages.len())
            .map(|i| Dynamic::from(StageView(d.0.clone(), i, d.1.clone())))
            .collect()
    }
    /// The stage that is built (the last).
    #[rhai_fn(get = "final_stage", pure)]
    pub fn dockerfile_final_stage(d: &mut Dockerfile) -> Dynamic {
        let count = d.0.stages.len();
        if count == 0 {
            return Dynamic::UNIT;
        }
        Dynamic::from(StageView(d.0.clone(), count - 1, d.1.clone()))
    }
    /// Every instruction in file order, `FROM`s and the `ARG`s before the first `FROM`
    /// included, as maps (see `Stage.instructions`; `stage` is `()` before the first `FROM`).
    #[rhai_fn(get = "instructions", pure)]
    pub fn dockerfile_instructions(d: &mut Dockerfile) -> Array {
        let preamble = d.0.preamble.iter().map(|i| instruction_map(i, None));
        let stages = d.0.stages.iter().flat_map(|s| {
            std::iter::once(&s.from)
                .chain(&s.instructions)
                .map(move |i| instruction_map(i, Some(s.index)))
        });
        preamble.chain(stages).collect()
    }
    /// The `ARG`s before the first `FROM`, as maps `#{name, default, value, line}`:
    /// `default` as written (quotes removed, variables not substituted) or `()`, `value`
    /// the one in effect (a `--build-arg`, else the default) or `()`.
    #[rhai_fn(get = "global_args", pure)]
    pub fn dockerfile_global_args(d: &mut Dockerfile) -> Array {
        d.0.global_args.iter().map(arg_map).collect()
    }
    /// Parser directives at the top of the file (`syntax`, `escape`, `check`), as a map of
    /// lower-case names to values.
    #[rhai_fn(get = "directives", pure)]
    pub fn dockerfile_directives(d: &mut Dockerfile) -> Map {
        d.0.directives
            .iter()
            .map(|dir| (dir.name.as_str().into(), dir.value.as_str().into()))
            .collect()
    }

    // ---- Stage ----

    /// Position among the stages, from 0 (what `COPY --from=0` names).
    #[rhai_fn(get = "index", pure)]
    pub fn stage_index(s: &mut Stage) -> rhai::INT {
        s.1 as rhai::INT
    }
    /// The `AS` name (lower case), or `()`.
    #[rhai_fn(get = "name", pure)]
    pub fn stage_name(s: &mut Stage) -> Dynamic {
        opt_str(s.stage().name.as_deref())
    }
    /// Whether this is the stage that is built (the last one): the image that runs.
    #[rhai_fn(get = "is_final", pure)]
    pub fn stage_is_final(s: &mut Stage) -> bool {
        s.1 + 1 == s.0.stages.len()
    }
    /// Line of the stage's `FROM`.
    #[rhai_fn(get = "line", pure)]
    pub fn stage_line(s: &mut Stage) -> rhai::INT {
        s.stage().from.line as rhai::INT
    }
    /// What `FROM` names after `ARG` substitution: an image reference, a stage name or
    /// `scratch`.
    #[rhai_fn(get = "base", pure)]
    pub fn stage_base(s: &mut Stage) -> ImmutableString {
        s.stage().base.value.as_str().into()
    }
    /// The index of the earlier stage this one is built on, or `()`.
    #[rhai_fn(get = "base_stage", pure)]
    pub fn stage_base_stage(s: &mut Stage) -> Dynamic {
        opt(s.stage().base.stage.map(|i| i as rhai::INT))
    }
    /// The image the stage's file system starts from: its own base, or for a stage built on
    /// an earlier stage, that stage's, and so on. Its `kind` is `registry`, `scratch` or
    /// `unknown`; `facts` are the image facts of a registry image, when known.
    #[rhai_fn(get = "base_image", pure)]
    pub fn stage_base_image(s: &mut Stage) -> Image {
        let root = crate::workload::dockerfile::root_stage(&s.0, s.1);
        ImageView(
            Arc::new(crate::workload::dockerfile::stage_image(&s.0.stages[root])),
            s.2.clone(),
        )
    }
    /// `--platform` of the `FROM`, substituted, or `()`.
    #[rhai_fn(get = "platform", pure)]
    pub fn stage_platform(s: &mut Stage) -> Dynamic {
        opt_str(s.stage().platform.as_ref().map(|p| p.value.as_str()))
    }
    /// The user the stage's image runs as, as a map `#{value, user, group, line, stage}`:
    /// its last `USER`, or that of the stage it is built on (`stage` says where it is
    /// written; `group` may be `()`). `()` when no `USER` is in effect: the base image's
    /// user applies, which the file does not show.
    #[rhai_fn(get = "user", pure)]
    pub fn stage_user(s: &mut Stage) -> Dynamic {
        let Some(user) = &s.stage().final_user else {
            return Dynamic::UNIT;
        };
        let mut map = Map::new();
        map.insert("value".into(), user.value.as_str().into());
        map.insert("user".into(), user.user.as_str().into());
        map.insert("group".into(), opt_str(user.group.as_deref()));
        map.insert("line".into(), (user.line as rhai::INT).into());
        map.insert("stage".into(), (user.stage as rhai::INT).into());
        Dynamic::from_map(map)
    }
    /// The `FROM` instruction, as a map (see `instructions`).
    #[rhai_fn(get = "from", pure)]
    pub fn stage_from(s: &mut Stage) -> Dynamic {
        instruction_map(&s.stage().from, Some(s.1))
    }
    /// The instructions after `FROM`, as maps `#{keyword, line, end_line, column, original,
    /// flags, args, words, json, heredocs, trigger, stage}`: `keyword` upper case; `flags`
    /// the leading `--name=value` words; `args` the arguments as BuildKit's parser gives
    /// them (the JSON array's strings, the rest of the line for shell-form `RUN`/`CMD`/
    /// `ENTRYPOINT`, words for `COPY`/`ADD`/`FROM`…, name-value pairs for `ENV`/`LABEL`);
    /// `words` for `COPY` and `ADD` the sources and destination as the instruction sees
    /// them (quotes removed, `ARG`s and `ENV`s substituted), else `[]`; `json` whether it
    /// is in exec (JSON) form; `heredocs` maps `#{name, content, line,
    /// end_line}`; `trigger` the instruction an `ONBUILD` registers, or `()`. The i-th has
    /// the field path `instructions[i]`: `finding(c, message, "instructions[" + i + "]")`
    /// points at its line.
    #[rhai_fn(get = "instructions", pure)]
    pub fn stage_instructions(s: &mut Stage) -> Array {
        s.stage()
            .instructions
            .iter()
            .map(|i| instruction_map(i, Some(s.1)))
            .collect()
    }
    /// The stage's `ENV` definitions, as maps `#{name, value, literal, line}`: `value` with
    /// the file's variables substituted, `literal` as written (quotes removed).
    #[rhai_fn(get = "env", pure)]
    pub fn stage_env(s: &mut Stage) -> Array {
        s.stage()
            .env
            .iter()
            .map(|e| {
                let mut map = Map::new();
                map.insert("name".into(), e.name.as_str().into());
                map.insert("value".into(), e.value.as_str().into());
                map.insert("literal".into(), e.literal.as_str().into());
                map.insert("line".into(), (e.line as rhai::INT).into());
                Dynamic::from_map(map)
            })
            .collect()
    }
    /// The stage's `ARG`s, as maps `#{name, default, value, line}` (see
    /// `Dockerfile.global_args`).
    #[rhai_fn(get = "args", pure)]
    pub fn stage_args(s: &mut Stage) -> Array {
        s.stage().args.iter().map(arg_map).collect()
    }
    /// Indexes of the stages this one copies from (`COPY --from`, `RUN --mount=from=`).
    #[rhai_fn(get = "depends_on", pure)]
    pub fn stage_depends_on(s: &mut Stage) -> Array {
        s.stage()
            .depends_on
            .iter()
            .map(|i| Dynamic::from(*i as rhai::INT))
            .collect()
    }
}
