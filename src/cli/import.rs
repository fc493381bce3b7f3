//! `vigil import KIND PATH... [--out DIR]`: other tools' rules as formatted, checked
//! `.rules` files, with a summary of what came across.

use super::{ImportArgs, ImportFormat, ImportKind, out, outln};
use vigil_import::{FileReport, Status, Summary};

/// Input files larger than this are refused (rule files are kilobytes).
const MAX_INPUT: u64 = 64 << 20;

pub fn run(args: ImportArgs) -> i32 {
    if args.out.is_none() && (args.paths.len() > 1 || args.paths.iter().any(|p| p.is_dir())) {
        eprintln!("error: several inputs need --out DIR (one .rules file is written per input)");
        return 2;
    }
    if let Some(dir) = &args.out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return 2;
    }
    let mut summary = Summary::default();
    let mut reports = Vec::new();
    let mut failed_files = 0;
    let mut written = std::collections::HashSet::new();
    let results = match translate(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    for (shown, report) in results {
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                failed_files += 1;
                continue;
            }
        };
        let file = report
            .file
            .clone()
            .unwrap_or_else(|| format!("{}.rules", report.package));
        if !written.insert(file.clone()) {
            eprintln!(
                "error: {shown}: a second input written to `{file}` (it would overwrite the first)"
            );
            failed_files += 1;
            continue;
        }
        summary.add(&report);
        if let Err(e) = write(&args, &report) {
            eprintln!("error: {e}");
            return 2;
        }
        if args.format == ImportFormat::Human {
            for it in report.items.iter().filter(|i| i.status != Status::Imported) {
                let what = match it.status {
                    Status::Partly => "partly",
                    _ => "not translated",
                };
                eprintln!("{shown}: {}: {what}: {}", it.name, it.reasons.join("; "));
            }
        }
        reports.push(report);
    }
    match args.format {
        ImportFormat::Human => eprintln!("{summary}"),
        ImportFormat::Json => {
            let doc = serde_json::json!({ "summary": summary, "files": reports });
            if args.out.is_some() {
                outln!("{doc:#}");
            } else {
                eprintln!("{doc:#}");
            }
        }
    }
    if failed_files > 0 || summary.partly + summary.not_translated > 0 {
        1
    } else {
        0
    }
}

/// An input (as shown) and its translation.
type Translated = (String, Result<FileReport, String>);

/// Every input's translation, in order (Falco's files together: later ones use earlier ones'
/// macros and lists).
fn translate(args: &ImportArgs) -> Result<Vec<Translated>, String> {
    let shown: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
    if args.mapping.is_some() && !matches!(args.kind, ImportKind::Falco | ImportKind::Sigma) {
        return Err("--mapping is for `vigil import falco` and `vigil import sigma`".into());
    }
    if args.kind == ImportKind::Sigma {
        let mapping = match &args.mapping {
            Some(p) => vigil_import::sigma::Mapping::from_yaml(&read(p)?)
                .map_err(|e| format!("{}: {e}", p.display()))?,
            None => vigil_import::sigma::Mapping::default(),
        };
        return Ok(sigma_files(&args.paths)?
            .into_iter()
            .map(|path| {
                let shown = path.display().to_string();
                let r = read(&path).and_then(|t| vigil_import::sigma::import(&shown, &t, &mapping));
                (shown, r)
            })
            .collect());
    }
    if args.kind == ImportKind::Falco {
        let mapping = match &args.mapping {
            Some(p) => vigil_import::falco::Mapping::with_overrides(&read(p)?)
                .map_err(|e| format!("{}: {e}", p.display()))?,
            None => vigil_import::falco::Mapping::default(),
        };
        let mut inputs = Vec::new();
        let mut out = Vec::new();
        for (path, name) in args.paths.iter().zip(&shown) {
            match read(path) {
                Ok(t) => inputs.push((name.clone(), t)),
                Err(e) => out.push((name.clone(), Err(e))),
            }
        }
        let names: Vec<String> = inputs.iter().map(|(n, _)| n.clone()).collect();
        let reports = vigil_import::falco::import_all(&inputs, &mapping);
        out.extend(names.into_iter().zip(reports));
        return Ok(out);
    }
    Ok(args
        .paths
        .iter()
        .zip(shown)
        .map(|(path, shown)| {
            let report = read(path).and_then(|text| match args.kind {
                ImportKind::Prometheus => vigil_import::prometheus::import(&shown, &text),
                ImportKind::PromtoolTests => vigil_import::promtool::import(&shown, &text, &read),
                ImportKind::Alertmanager => vigil_import::alertmanager::import(&shown, &text),
                ImportKind::Falco | ImportKind::Sigma => Err("read above".into()),
            });
            (shown, report)
        })
        .collect())
}

/// Sigma inputs: files, and the `.yml`/`.yaml` files under folders (sorted).
fn sigma_files(paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn read(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_INPUT {
        return Err(format!(
            "{}: {} bytes, more than the {} MiB an input may have",
            path.display(),
            meta.len(),
            MAX_INPUT >> 20
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(args: &ImportArgs, report: &FileReport) -> Result<(), String> {
    match &args.out {
        Some(dir) => {
            let name = report
                .file
                .clone()
                .unwrap_or_else(|| format!("{}.rules", report.package));
            let path = dir.join(name);
            std::fs::write(&path, &report.text).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => {
            out!("{}", report.text);
            Ok(())
        }
    }
}
