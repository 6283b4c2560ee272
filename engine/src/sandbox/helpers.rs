//! Helper modules rules share: `import "lists" as lists;` inside a rule's function finds
//! `lib/lists.rhai` of a loaded rule directory (or of the built-in pack). Nothing else can
//! be imported: no paths, no other files, no network. Each helper is compiled once, when its
//! directory is loaded, and shared by every rule.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};

/// A compiled helper module and the source it came from.
type Helper = (Arc<str>, Shared<Module>);

/// The helper modules of a rule set, by name.
#[derive(Debug, Clone, Default)]
pub struct HelperModules(Arc<RwLock<BTreeMap<String, Helper>>>);

impl HelperModules {
    /// Whether `name` is a helper name: what `import` may say.
    pub fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    }

    pub(crate) fn insert(&self, name: &str, source: &str, module: Shared<Module>) {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(name.to_string(), (source.into(), module));
    }

    /// The source of the helper `name`, if one is loaded.
    pub(crate) fn source(&self, name: &str) -> Option<Arc<str>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .map(|(source, _)| source.clone())
    }

    /// The names loaded so far.
    pub fn names(&self) -> Vec<String> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn get(&self, name: &str) -> Option<Shared<Module>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .map(|(_, module)| module.clone())
    }
}

impl ModuleResolver for HelperModules {
    fn resolve(
        &self,
        _engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        // Unknown names are refused when the rule loads (`lint`), with the loaded names;
        // here only a computed path can be missing.
        self.get(path)
            .ok_or_else(|| EvalAltResult::ErrorModuleNotFound(path.to_string(), pos).into())
    }
}

/// Compiles a helper module's source into a module rules can import.
pub(crate) fn compile_helper(engine: &Engine, source: &str) -> Result<Shared<Module>, String> {
    let ast = engine.compile(source).map_err(|e| {
        let at = match (e.position().line(), e.position().position()) {
            (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
            _ => String::new(),
        };
        format!("syntax error: {}{at}", e.0)
    })?;
    Module::eval_ast_as_new(rhai::Scope::new(), &ast, engine)
        .map(Shared::new)
        .map_err(|e| format!("running its top level failed: {e}"))
}
