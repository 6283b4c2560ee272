//! `portcullis serve`: the admission server (`portcullis-server`) over the same rules,
//! configuration and facts loading as `check`, redone on every reload.

use std::path::PathBuf;
use std::sync::Arc;

use portcullis_engine::facts::FactsFile;
use portcullis_server::{OnError, Options, PolicySpec, TlsFiles};

use crate::Outcome;
use crate::args::{OnErrorArg, RuleSourceArgs, ServeArgs};
use crate::printer::Printer;
use crate::setup;

pub fn run(args: ServeArgs) -> std::io::Result<Outcome> {
    let printer = Printer::new(crate::args::ColorChoice::Auto);
    if let Some(message) = setup::missing_rule_path(&args.rule_source) {
        printer.error(&message);
        return Ok(Outcome::Errors);
    }
    let tls = match (&args.cert, &args.key, args.insecure_http) {
        (Some(cert), Some(key), _) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (_, _, true) => None,
        _ => {
            printer.error(
                "give --cert and --key (PEM files), or --insecure-http on a loopback address",
            );
            return Ok(Outcome::Errors);
        }
    };
    let registry = if args.pull_facts {
        match setup::registry_options(&args.registry) {
            Ok(mut options) => {
                options.progress = false;
                Some(options)
            }
            Err(message) => {
                printer.error(&message);
                return Ok(Outcome::Errors);
            }
        }
    } else {
        None
    };
    let config_path = setup::config_path(args.config.as_deref());
    let mut watch: Vec<PathBuf> = args.rule_source.rules.clone();
    watch.extend(config_path.clone());
    watch.extend(args.image_facts.clone());
    let mut exclude_namespaces = args.exclude_namespace.clone();
    let own = args.own_namespace.clone().or_else(|| {
        std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|n| portcullis_engine::is_namespace_name(n))
    });
    if let Some(own) = own {
        log::info!("requests in the server's own namespace `{own}` are never evaluated");
        exclude_namespaces.push(own);
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let options = Options {
        listen: args.listen,
        tls,
        fail_on: args.fail_on.into(),
        on_error: match args.on_error {
            OnErrorArg::Deny => OnError::Deny,
            OnErrorArg::Allow => OnError::Allow,
        },
        deadline: args.deadline,
        max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_concurrency: args.max_concurrency.map_or(cores * 2, |n| n as usize),
        max_in_flight: args.max_in_flight as usize,
        exclude_namespaces,
        exclude_kinds: args.exclude_kind.clone(),
        set_pull_policy: args.set_pull_policy.map(|p| p.as_str().to_string()),
        watch,
        registry,
        read_timeout: args.read_timeout,
    };
    let source = RuleSourceArgs {
        rules: args.rule_source.rules.clone(),
        no_default_rules: args.rule_source.no_default_rules,
        rule_timeout: args.rule_source.rule_timeout,
    };
    let selection = setup::selection(&args.select, &args.ignore);
    let facts_path = args.image_facts.clone();
    let namespace = args.namespace.clone();
    let loader = Arc::new(move || -> Result<PolicySpec, Vec<String>> {
        let config = setup::read_config(config_path.clone());
        let (rules, rule_errors) = setup::load_rules(&source);
        let mut errors: Vec<String> = config.problems.iter().map(|p| p.to_string()).collect();
        errors.extend(rule_errors.iter().map(|e| e.to_string()));
        let facts = match &facts_path {
            Some(path) => FactsFile::read(path).unwrap_or_else(|e| {
                errors.push(e.to_string());
                FactsFile::default()
            }),
            None => FactsFile::default(),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PolicySpec {
            rules,
            config: config.config,
            selection: selection.clone(),
            facts,
            default_namespace: namespace.clone(),
        })
    });
    match portcullis_server::run(options, loader) {
        Ok(()) => Ok(Outcome::Clean),
        Err(message) => {
            // One error per line: a policy that does not load can have several.
            for line in message.lines() {
                printer.error(line);
            }
            Ok(Outcome::Errors)
        }
    }
}
