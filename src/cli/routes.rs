//! `vigil routes test --rules PATH LABEL=VALUE...`: the notifiers a label set reaches through
//! the rules' route tree, comma-separated in tree order with repeats, as `amtool config routes
//! test` prints receivers.

use super::{RoutesArgs, RoutesCommand, check_or_report, outln};

pub fn run(args: RoutesArgs) -> i32 {
    match args.command {
        RoutesCommand::Test {
            rules,
            rules_root,
            labels,
        } => {
            let mut set = std::collections::BTreeMap::new();
            for l in &labels {
                let Some((k, v)) = l.split_once('=') else {
                    eprintln!("error: `{l}` is not LABEL=VALUE");
                    return 2;
                };
                set.insert(k.to_string(), v.trim_matches('"').to_string());
            }
            let checked = match check_or_report(&rules, rules_root, "no route was tested") {
                Ok(c) => c,
                Err(code) => return code,
            };
            let tree = vigil_compiler::lower::routes::of_checked(&checked);
            let reached = tree.matches(&|k| set.get(k).cloned());
            let names: Vec<&str> = reached
                .iter()
                .flat_map(|r| r.notifiers.iter().map(String::as_str))
                .collect();
            outln!("{}", names.join(","));
            0
        }
    }
}
