//! Load-time checks of rule scripts: mistakes Rhai itself would report only when the line
//! runs (once per workload, or never if no test reaches it).
//!
//! - calls of functions that do not exist, or not with that many arguments;
//! - properties the engine's types do not have (`workload.containrs`), where the type is
//!   certain: the parameters of `check` and `prepare`, loop variables over typed lists
//!   (`for c in workload.containers`), `let` bindings of typed values, and property chains;
//! - settings read but not declared in `META.settings`.
//!
//! Each problem has a position and, when a close name exists, a "did you mean". The known
//! names come from the engine the rule runs on and from the rule API's metadata, so a
//! property added to the API is known here without a list to keep in step.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use rhai::{AST, ASTNode, Engine, Expr, Position, Stmt, StmtBlock};

/// A mistake found in a rule, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    fn at(pos: Position, message: String, help: Option<String>) -> Problem {
        Problem {
            line: pos.line(),
            column: pos.position(),
            message,
            help,
        }
    }
}

/// What rules can call and read: function arities by name, and the properties of each of
/// the engine's types with the type they return.
struct Api {
    functions: HashMap<String, BTreeSet<usize>>,
    getters: HashMap<String, HashMap<String, String>>,
}

/// Functions the language provides without registering them.
const LANGUAGE_FUNCTIONS: [&str; 10] = [
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "eval",
];

/// Lists whose items have a type of the engine: (type, property) -> item type.
const LIST_ITEMS: [(&str, &str, &str); 6] = [
    ("Workload", "containers", "Container"),
    ("Workload", "volumes", "Volume"),
    ("Container", "ports", "Port"),
    ("Container", "volume_mounts", "VolumeMount"),
    ("Container", "env", "Env"),
    ("Dockerfile", "stages", "Stage"),
];

/// Properties that are `()` or a value of the engine's type: (type, property) -> type.
const OPTIONAL_VALUES: [(&str, &str, &str); 9] = [
    ("Image", "facts", "ImageFacts"),
    ("Container", "liveness_probe", "Probe"),
    ("Container", "readiness_probe", "Probe"),
    ("Container", "startup_probe", "Probe"),
    ("Container", "stage", "Stage"),
    ("VolumeMount", "volume", "Volume"),
    ("Workload", "dockerfile", "Dockerfile"),
    ("Dockerfile", "final_stage", "Stage"),
    ("Stage", "image", "Image"),
];

/// Properties that are `()` or a value of a plain type: (type, property) -> type.
const OPTIONAL_SCALARS: [(&str, &str, &str); 16] = [
    ("SecurityContext", "run_as_user", "int"),
    ("SecurityContext", "run_as_group", "int"),
    ("SecurityContext", "run_as_non_root", "bool"),
    ("SecurityContext", "read_only_root_filesystem", "bool"),
    ("SecurityContext", "allow_privilege_escalation", "bool"),
    ("SecurityContext", "privileged", "bool"),
    ("Image", "registry", "string"),
    ("Image", "repository", "string"),
    ("Image", "tag", "string"),
    ("Image", "digest", "string"),
    ("Port", "container_port", "int"),
    ("Port", "host_port", "int"),
    ("Env", "value", "string"),
    ("Workload", "os", "string"),
    ("Workload", "service_account_name", "string"),
    ("Workload", "automount_service_account_token", "bool"),
];

fn api(engine: &Engine) -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let mut functions: HashMap<String, BTreeSet<usize>> = HashMap::new();
        for signature in engine.gen_fn_signatures(true) {
            if let Some((name, arity)) = parse_signature(&signature) {
                functions.entry(name).or_default().insert(arity);
            }
        }
        let metadata: serde_json::Value =
            serde_json::from_str(&crate::api_docs::rule_api_metadata()).unwrap_or_default();
        let mut getters: HashMap<String, HashMap<String, String>> = HashMap::new();
        for f in metadata["functions"].as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or("");
            let Some(property) = name.strip_prefix("get$") else {
                continue;
            };
            let Some(owner) = f["params"][0]["type"].as_str() else {
                continue;
            };
            let owner = owner.trim_start_matches("&mut ").to_string();
            let returns = f["returnType"].as_str().unwrap_or("");
            let returns = returns
                .strip_prefix("Result<")
                .and_then(|r| r.split_once(", Box<EvalAltResult>>"))
                .map_or(returns, |(t, _)| t)
                .to_string();
            getters
                .entry(owner)
                .or_default()
                .insert(property.to_string(), returns);
        }
        Api { functions, getters }
    })
}

/// `name(a: A, b: B) -> R` -> (`name`, 2).
fn parse_signature(signature: &str) -> Option<(String, usize)> {
    let open = signature.find('(')?;
    let name = signature[..open].trim();
    let mut depth = 0usize;
    let mut arity = 0usize;
    let mut seen_any = false;
    for c in signature[open + 1..].chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            '>' | ']' => depth = depth.saturating_sub(1),
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            ',' if depth == 0 => arity += 1,
            c if !c.is_whitespace() => seen_any = true,
            _ => {}
        }
    }
    Some((name.to_string(), if seen_any { arity + 1 } else { 0 }))
}

/// The closest of `candidates` to `name`, if one is close enough to be a typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, c)| c)
}

fn did_you_mean(suggestion: Option<&str>) -> Option<String> {
    suggestion.map(|s| format!("did you mean `{s}`?"))
}

/// The type of an expression, when it is certain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    /// One of the engine's types (`Workload`, `Container`, …).
    Engine(String),
    /// A list of values of one of the engine's types.
    ListOf(String),
    /// The `settings` map.
    Settings,
    /// A property of a plain type (`int`, `bool`, `string`), or `()`.
    Scalar(&'static str, String),
}

struct Checker<'a> {
    api: &'static Api,
    script_functions: HashMap<String, BTreeSet<usize>>,
    settings: &'a BTreeSet<String>,
    helpers: &'a [String],
    /// How many loops enclose the statement being checked.
    loop_depth: usize,
    problems: Vec<Problem>,
}

/// The names of a rule's entry functions: `check(workload, settings)` and the optional
/// `prepare(settings)`, whose parameters have known types.
pub(crate) struct Entry<'a> {
    pub check: &'a str,
    pub prepare: &'a str,
}

/// Checks a compiled rule; `settings` are the names `META.settings` declares.
pub(crate) fn check(
    engine: &Engine,
    ast: &AST,
    entry: Entry<'_>,
    settings: &BTreeSet<String>,
    prepares: bool,
    helpers: &[String],
) -> Vec<Problem> {
    let mut script_functions: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for f in ast.iter_functions() {
        script_functions
            .entry(f.name.to_string())
            .or_default()
            .insert(f.params.len());
    }
    let mut checker = Checker {
        api: api(engine),
        script_functions,
        settings,
        helpers,
        loop_depth: 0,
        problems: Vec::new(),
    };
    // Calls everywhere, including closures and the top level.
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(
                ASTNode::Expr(Expr::FnCall(call, pos)) | ASTNode::Stmt(Stmt::FnCall(call, pos)),
            ) => checker.check_call(
                &call.name,
                call.args.len(),
                call.op_token.is_some(),
                !call.namespace.is_empty(),
                *pos,
                false,
            ),
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => checker.check_call(
                &call.name,
                call.args.len() + 1,
                call.op_token.is_some(),
                false,
                *pos,
                true,
            ),
            _ => {}
        }
        true
    });
    // Properties, where types are certain.
    // Rhai does not export the type of a function's body, but walks bodies in order: each
    // outermost statement belongs to the function whose body spans its position.
    let key = |pos: Position| (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
    let spans: Vec<_> = ast
        .iter_fn_def()
        .map(|f| (key(f.body.start_position()), key(f.body.end_position())))
        .collect();
    let mut bodies: Vec<Vec<Stmt>> = vec![Vec::new(); spans.len()];
    ast.walk(&mut |path: &[ASTNode]| {
        if let [ASTNode::Stmt(stmt)] = path {
            let at = key(stmt.position());
            if let Some(i) = spans
                .iter()
                .position(|(start, end)| *start <= at && at <= *end)
            {
                bodies[i].push((*stmt).clone());
            }
        }
        true
    });
    for (f, body) in ast.iter_fn_def().zip(bodies) {
        let params: Vec<&str> = f.params.iter().map(|p| p.as_str()).collect();
        let mut env: HashMap<String, Ty> = HashMap::new();
        match (f.name.as_str(), params.as_slice()) {
            (name, [workload, settings]) if name == entry.check => {
                env.insert(workload.to_string(), Ty::Engine("Workload".into()));
                if !prepares {
                    env.insert(settings.to_string(), Ty::Settings);
                }
            }
            (name, [settings]) if name == entry.prepare => {
                env.insert(settings.to_string(), Ty::Settings);
            }
            _ => {}
        }
        for stmt in &body {
            checker.stmt(stmt, &mut env);
        }
    }
    checker.problems.sort_by_key(|p| (p.line, p.column));
    checker.problems.dedup();
    checker.problems
}

impl Checker<'_> {
    fn check_call(
        &mut self,
        name: &str,
        arity: usize,
        operator: bool,
        namespaced: bool,
        pos: Position,
        method: bool,
    ) {
        if operator
            || namespaced
            || !rhai::is_valid_identifier(name)
            || LANGUAGE_FUNCTIONS.contains(&name)
            || name.starts_with("anon$")
        {
            return;
        }
        let registered = self.api.functions.get(name);
        let scripted = self.script_functions.get(name);
        // A script function called as a method receives the object as `this`.
        let scripted_arity =
            |a: usize| scripted.is_some_and(|s| s.contains(&a) || (method && s.contains(&(a - 1))));
        if registered.is_some_and(|r| r.contains(&arity)) || scripted_arity(arity) {
            return;
        }
        let shown_arity = if method { arity - 1 } else { arity };
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let known: BTreeSet<usize> = registered
            .into_iter()
            .chain(scripted)
            .flatten()
            .map(|a| if method { a.saturating_sub(1) } else { *a })
            .collect();
        if !known.is_empty() {
            let takes: Vec<String> = known.iter().map(|a| a.to_string()).collect();
            self.problems.push(Problem::at(
                pos,
                format!(
                    "`{name}` does not take {shown_arity} argument{}{}",
                    plural(shown_arity),
                    if method { " as a method" } else { "" }
                ),
                Some(format!("it takes {}", takes.join(" or "))),
            ));
            return;
        }
        let names = self
            .api
            .functions
            .keys()
            .chain(self.script_functions.keys())
            .map(String::as_str)
            .filter(|n| rhai::is_valid_identifier(n) && !n.contains('$'));
        self.problems.push(Problem::at(
            pos,
            format!(
                "unknown function `{name}` (called with {shown_arity} argument{})",
                plural(shown_arity)
            ),
            did_you_mean(closest(name, names)).or_else(|| {
                Some("the functions rules can call are listed in docs/rule-api.md".into())
            }),
        ));
    }

    fn block(&mut self, block: &StmtBlock, env: &mut HashMap<String, Ty>) {
        for stmt in block.iter() {
            self.stmt(stmt, env);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, env: &mut HashMap<String, Ty>) {
        match stmt {
            Stmt::Var(var, ..) => {
                let (ident, expr, _) = &**var;
                // A copy of the settings may be extended (`prepare` often does), so only
                // the parameter itself is checked against `META.settings`.
                match self.expr(expr, env) {
                    Some(ty) if ty != Ty::Settings => env.insert(ident.name.to_string(), ty),
                    _ => env.remove(ident.name.as_str()),
                };
            }
            Stmt::For(for_loop, _) => {
                let (var, counter, flow) = &**for_loop;
                let item = match self.expr(&flow.expr, env) {
                    Some(Ty::ListOf(item)) => Some(Ty::Engine(item)),
                    _ => None,
                };
                let mut inner = env.clone();
                match item {
                    Some(ty) => inner.insert(var.name.to_string(), ty),
                    None => inner.remove(var.name.as_str()),
                };
                if let Some(counter) = counter {
                    inner.remove(counter.name.as_str());
                }
                self.loop_depth += 1;
                self.block(&flow.body, &mut inner);
                self.loop_depth -= 1;
            }
            Stmt::If(flow, _) => {
                self.expr(&flow.expr, env);
                self.block(&flow.body, &mut env.clone());
                self.block(&flow.branch, &mut env.clone());
            }
            Stmt::While(flow, _) | Stmt::Do(flow, ..) => {
                self.expr(&flow.expr, env);
                self.loop_depth += 1;
                self.block(&flow.body, &mut env.clone());
                self.loop_depth -= 1;
            }
            Stmt::Import(import, pos) => self.import(&import.0, *pos),
            Stmt::TryCatch(flow, _) => {
                self.block(&flow.body, &mut env.clone());
                self.block(&flow.branch, &mut env.clone());
            }
            Stmt::Block(block) => self.block(block, &mut env.clone()),
            Stmt::Expr(expr) => {
                self.expr(expr, env);
            }
            Stmt::FnCall(call, _) => {
                for arg in call.args.iter() {
                    self.expr(arg, env);
                }
            }
            Stmt::Return(Some(expr), ..) | Stmt::BreakLoop(Some(expr), ..) => {
                self.expr(expr, env);
            }
            Stmt::Assignment(assignment) => {
                // What is assigned to is not read: only the value is checked.
                let (_, binary) = &**assignment;
                self.expr(&binary.rhs, env);
            }
            _ => {}
        }
    }

    /// Checks `expr` and returns its type when certain.
    fn expr(&mut self, expr: &Expr, env: &mut HashMap<String, Ty>) -> Option<Ty> {
        match expr {
            Expr::Variable(variable, ..) => env.get(variable.1.as_str()).cloned(),
            Expr::Dot(binary, ..) => {
                let base = self.expr(&binary.lhs, env);
                self.chain(base, &binary.rhs, env)
            }
            Expr::Index(binary, ..) => {
                let base = self.expr(&binary.lhs, env);
                if let (Some(Ty::Settings), Expr::StringConstant(key, pos)) = (&base, &binary.rhs) {
                    self.setting(key, *pos);
                }
                self.expr(&binary.rhs, env);
                match base {
                    Some(Ty::ListOf(item)) => Some(Ty::Engine(item)),
                    _ => None,
                }
            }
            Expr::FnCall(call, pos)
                if matches!(call.name.as_str(), "==" | "!=") && call.args.len() == 2 =>
            {
                let left = self.expr(&call.args[0], env);
                let right = self.expr(&call.args[1], env);
                self.comparison(
                    &call.name,
                    (&left, &call.args[0]),
                    (&right, &call.args[1]),
                    *pos,
                );
                None
            }
            Expr::FnCall(call, _) | Expr::MethodCall(call, _) => {
                for arg in call.args.iter() {
                    self.expr(arg, env);
                }
                None
            }
            Expr::And(items, _) | Expr::Or(items, _) | Expr::Coalesce(items, _) => {
                for item in items.iter() {
                    self.expr(item, env);
                }
                None
            }
            Expr::Array(items, _) | Expr::InterpolatedString(items, _) => {
                for item in items.iter() {
                    self.expr(item, env);
                }
                None
            }
            Expr::Map(map, _) => {
                for (_, value) in map.0.iter() {
                    self.expr(value, env);
                }
                None
            }
            Expr::Stmt(block) => {
                self.block(block, &mut env.clone());
                None
            }
            _ => None,
        }
    }

    /// The rest of a property chain on a value of type `base`.
    fn chain(&mut self, base: Option<Ty>, rhs: &Expr, env: &mut HashMap<String, Ty>) -> Option<Ty> {
        match rhs {
            Expr::Property(property, pos) => self.property(base, &property.2, *pos),
            Expr::MethodCall(call, _) => {
                for arg in call.args.iter() {
                    self.expr(arg, env);
                }
                None
            }
            Expr::Dot(binary, ..) => {
                let next = self.chain(base, &binary.lhs, env);
                self.chain(next, &binary.rhs, env)
            }
            Expr::Index(binary, ..) => {
                let list = self.chain(base, &binary.lhs, env);
                if let (Some(Ty::Settings), Expr::StringConstant(key, pos)) = (&list, &binary.rhs) {
                    self.setting(key, *pos);
                }
                self.expr(&binary.rhs, env);
                match list {
                    Some(Ty::ListOf(item)) => Some(Ty::Engine(item)),
                    _ => None,
                }
            }
            other => {
                self.expr(other, env);
                None
            }
        }
    }

    fn property(&mut self, base: Option<Ty>, name: &str, pos: Position) -> Option<Ty> {
        match base? {
            Ty::Settings => {
                self.setting(name, pos);
                None
            }
            Ty::ListOf(_) | Ty::Scalar(..) => None,
            Ty::Engine(owner) => {
                let properties = self.api.getters.get(&owner)?;
                let Some(returns) = properties.get(name) else {
                    let suggestion = closest(name, properties.keys().map(String::as_str));
                    let help = did_you_mean(suggestion).unwrap_or_else(|| {
                        let mut known: Vec<&str> = properties.keys().map(String::as_str).collect();
                        known.sort_unstable();
                        format!("`{owner}` has: {}", known.join(", "))
                    });
                    self.problems.push(Problem::at(
                        pos,
                        format!("`{owner}` has no property `{name}`"),
                        Some(help),
                    ));
                    return None;
                };
                if let Some((.., item)) = LIST_ITEMS
                    .iter()
                    .find(|(o, p, _)| *o == owner && *p == name)
                {
                    return Some(Ty::ListOf(item.to_string()));
                }
                if let Some((.., value)) = OPTIONAL_VALUES
                    .iter()
                    .find(|(o, p, _)| *o == owner && *p == name)
                {
                    return Some(Ty::Engine(value.to_string()));
                }
                let scalar = match returns.as_str() {
                    "bool" => Some("bool"),
                    "i64" | "INT" => Some("int"),
                    "ImmutableString" | "String" => Some("string"),
                    _ => OPTIONAL_SCALARS
                        .iter()
                        .find(|(o, p, _)| *o == owner && *p == name)
                        .map(|(.., t)| *t),
                };
                if let Some(scalar) = scalar {
                    return Some(Ty::Scalar(scalar, name.to_string()));
                }
                self.api
                    .getters
                    .contains_key(returns.as_str())
                    .then(|| Ty::Engine(returns.clone()))
            }
        }
    }

    /// `a == b` where one side is a property of a plain type and the other a literal of
    /// another: always false (or always true for `!=`), so surely a mistake.
    fn comparison(
        &mut self,
        op: &str,
        left: (&Option<Ty>, &Expr),
        right: (&Option<Ty>, &Expr),
        pos: Position,
    ) {
        let literal = |e: &Expr| -> Option<(&'static str, String)> {
            match e {
                Expr::StringConstant(s, _) => Some(("string", format!("the string \"{s}\""))),
                Expr::IntegerConstant(i, _) => Some(("int", format!("the number {i}"))),
                Expr::FloatConstant(f, _) => Some(("float", format!("the number {f}"))),
                Expr::BoolConstant(b, _) => Some(("bool", format!("`{b}`"))),
                _ => None,
            }
        };
        for ((ty, _), (_, other)) in [(left, right), (right, left)] {
            let (Some(Ty::Scalar(kind, property)), Some((literal_kind, shown))) =
                (ty, literal(other))
            else {
                continue;
            };
            let numeric = |k: &str| k == "int" || k == "float";
            if *kind == literal_kind || (numeric(kind) && numeric(literal_kind)) {
                continue;
            }
            let article = match *kind {
                "int" => "a number",
                "bool" => "a bool",
                _ => "a string",
            };
            self.problems.push(Problem::at(
                pos,
                format!("`{op}` compares `{property}` ({article}, or `()`) with {shown}: values of different types are never equal"),
                Some(format!("compare with {article}")),
            ));
            return;
        }
    }

    fn import(&mut self, path: &Expr, pos: Position) {
        // Each `import` that runs adds a module until the function returns: in a loop, a
        // large pod would exhaust the module limit.
        if self.loop_depth > 0 {
            self.problems.push(Problem::at(
                pos,
                "`import` inside a loop runs on every iteration".into(),
                Some("import once, at the top of the function".into()),
            ));
        }
        let Expr::StringConstant(name, _) = path else {
            return;
        };
        if self.helpers.iter().any(|h| h == name.as_str()) {
            return;
        }
        let loaded = self.helpers.join(", ");
        self.problems.push(Problem::at(
            pos,
            format!("unknown helper module `{name}`: rules import only the helper modules in `lib/` of a loaded rules directory"),
            Some(match closest(name, self.helpers.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`? loaded helpers: {loaded}"),
                None => format!("loaded helpers: {loaded}"),
            }),
        ));
    }

    fn setting(&mut self, name: &str, pos: Position) {
        if self.settings.contains(name) {
            return;
        }
        let suggestion = closest(name, self.settings.iter().map(String::as_str)).or_else(|| {
            // `settings.max_age` for a setting named `max-age`.
            let dashed = name.replace('_', "-");
            self.settings.get(&dashed).map(String::as_str)
        });
        let declared: Vec<String> = self.settings.iter().map(|s| format!("`{s}`")).collect();
        let help = match suggestion {
            Some(s) if s.contains('-') => {
                format!("did you mean `{s}`? read it as `settings[\"{s}\"]`")
            }
            Some(s) => format!("did you mean `{s}`?"),
            None if declared.is_empty() => {
                "declare it in `META.settings` with a type, a default and a description".into()
            }
            None => format!("declared: {}", declared.join(", ")),
        };
        self.problems.push(Problem::at(
            pos,
            format!("setting `{name}` is not declared in `META.settings`"),
            Some(help),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_signature;

    #[test]
    fn signatures_give_name_and_arity() {
        assert_eq!(
            parse_signature("finding(c: &mut Container, message: &str) -> Finding"),
            Some(("finding".into(), 2))
        );
        assert_eq!(parse_signature("today() -> i64"), Some(("today".into(), 0)));
        assert_eq!(
            parse_signature("f(m: HashMap<String, i64>, x: i64) -> ()"),
            Some(("f".into(), 2))
        );
    }
}
