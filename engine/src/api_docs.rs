//! The rule API reference (`docs/rule-api.md`), generated from the `///` comments of
//! [`crate::sandbox::rule_api`] through Rhai's function metadata, so it cannot drift from the
//! code.

use rhai::{Engine, exported_module};

use crate::sandbox::{dockerfile_api, rule_api, workload_api};

/// The rule API's functions with their doc comments, as Rhai's metadata JSON (`functions`:
/// name, params, returnType, docComments). `docs/rule-api.md` is generated from it.
pub fn rule_api_metadata() -> String {
    let mut engine = Engine::new_raw();
    let mut api = exported_module!(rule_api);
    api.combine_flatten(exported_module!(dockerfile_api));
    api.combine_flatten(exported_module!(workload_api));
    engine.register_global_module(api.into());
    engine
        .gen_fn_metadata_to_json(false)
        .expect("metadata of registered functions serializes")
}

/// The rule API reference in Markdown, generated from the `///` comments of [`rule_api`]:
/// properties of each type, then functions. `docs/rule-api.md` holds its output.
pub fn rule_api_markdown() -> String {
    let metadata: serde_json::Value =
        serde_json::from_str(&rule_api_metadata()).expect("Rhai writes valid JSON");
    let functions = metadata["functions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let docs = |f: &serde_json::Value| -> String {
        f["docComments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str())
            .flat_map(|c| c.lines())
            .map(|line| line.trim().trim_start_matches("///").trim())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rhai_type = |rust: &str| -> String {
        let inner = rust
            .strip_prefix("Result<")
            .and_then(|r| r.split_once(", Box<EvalAltResult>>"))
            .map_or(rust, |(t, _)| t)
            .trim_start_matches("&mut ");
        match inner {
            "ImmutableString" => "string".into(),
            "Array" => "array".into(),
            "Map" => "map".into(),
            "i64" => "int".into(),
            "Dynamic" => "value or ()".into(),
            other => other.to_string(),
        }
    };
    let first_param_type = |f: &serde_json::Value| {
        f["params"][0]["type"]
            .as_str()
            .map(|t| t.trim_start_matches("&mut ").to_string())
    };

    let mut out = String::from(
        "# Rule API\n\nWhat Rhai rules can use besides the core language (strings, arrays, maps, \
         loops, closures). Generated from the engine's doc comments by \
         `UPDATE_DOCS=1 cargo test -p portcullis-tests --test docs`; do not edit by hand.\n\n\
         A rule's `fn check(workload, settings)` receives a `Workload` and its settings as a map, \
         and returns an array of `finding(…)` values. Unknown or unset values are `()`.\n",
    );
    let types = [
        ("Workload", "workload"),
        ("Container", "c"),
        ("Image", "c.image"),
        ("ImageFacts", "f"),
        ("SecurityContext", "c.security"),
        ("Env", "e"),
        ("Resources", "c.resources"),
        ("Port", "p"),
        ("Volume", "v"),
        ("VolumeMount", "m"),
        ("Probe", "c.liveness_probe"),
        ("Dockerfile", "workload.dockerfile"),
        ("Stage", "c.stage"),
    ];
    for (type_name, example) in types {
        out.push_str(&format!(
            "\n## `{type_name}`\n\n| property | type | description |\n|---|---|---|\n"
        ));
        let mut rows: Vec<(String, String)> = functions
            .iter()
            .filter(|f| first_param_type(f).as_deref() == Some(type_name))
            .filter_map(|f| {
                let name = text(&f["name"]);
                let property = name.strip_prefix("get$")?;
                Some((
                    property.to_string(),
                    format!(
                        "| `{example}.{property}` | {} | {} |\n",
                        rhai_type(&text(&f["returnType"])),
                        docs(f)
                    ),
                ))
            })
            .collect();
        rows.sort();
        rows.into_iter().for_each(|(_, row)| out.push_str(&row));
        let mut methods: Vec<&serde_json::Value> = functions
            .iter()
            .filter(|f| {
                first_param_type(f).as_deref() == Some(type_name)
                    && !text(&f["name"]).starts_with("get$")
                    && text(&f["name"]) != "finding"
                    && text(&f["name"]) != "finding_path"
                    && text(&f["name"]) != "image_matches"
                    && text(&f["name"]) != "image_matches_any"
                    && text(&f["name"]) != "signature_verdict"
            })
            .collect();
        methods.sort_by_key(|f| (text(&f["name"]), f["params"].to_string()));
        for f in methods {
            out.push_str(&format!(
                "\nMethod `{example}.{}`: {}\n",
                signature(f, true, &rhai_type),
                docs(f)
            ));
        }
    }
    out.push_str("\n## Functions\n\n");
    let mut plain: Vec<&serde_json::Value> = functions
        .iter()
        .filter(|f| !text(&f["name"]).starts_with("get$"))
        .filter(|f| {
            // Methods of the view types are listed in their sections above.
            let method = match first_param_type(f).as_deref() {
                Some("Workload" | "SecurityContext" | "Env" | "Resources" | "Volume" | "Probe") => {
                    true
                }
                Some("Container") => text(&f["name"]) == "field",
                Some("Image") => text(&f["name"]) == "to_string",
                _ => false,
            };
            !method
        })
        .collect();
    // Overloads share name and arity: their parameter types order them, as Rhai's metadata
    // comes in no fixed order.
    plain.sort_by_key(|f| {
        (
            text(&f["name"]),
            f["numParams"].as_u64(),
            f["params"].to_string(),
        )
    });
    for f in plain {
        out.push_str(&format!(
            "### `{}`\n\n{}\n\n",
            signature(f, false, &rhai_type),
            docs(f)
        ));
    }
    out
}

fn signature(
    f: &serde_json::Value,
    skip_first: bool,
    rhai_type: &dyn Fn(&str) -> String,
) -> String {
    let params: Vec<String> = f["params"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(usize::from(skip_first))
        .map(|p| p["name"].as_str().unwrap_or("_").to_string())
        .collect();
    let name = f["name"].as_str().unwrap_or("");
    let ret = rhai_type(f["returnType"].as_str().unwrap_or(""));
    format!("{name}({}) -> {ret}", params.join(", "))
}
