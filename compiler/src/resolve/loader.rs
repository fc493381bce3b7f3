//! Loads the files named on the command line and everything they import, parsing each once.

use crate::diag::{Code, Diagnostic};
use crate::list_file::read_text;
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::{self, ast};
use std::path::{Path, PathBuf};

/// A file the user named could not be read: a usage or I/O error (exit 2), not a diagnostic.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no .rules files found in {0}")]
    Empty(PathBuf),
    #[error("{0} holds more than {MAX_WALK} files and folders; name the folder with the rules")]
    TooBig(PathBuf),
}

/// One parsed file and the package it belongs to.
#[derive(Debug)]
pub struct LoadedFile {
    pub id: FileId,
    pub module: ast::Module,
    pub package: String,
    /// Imported packages by the name this file uses for them, with the import's span.
    pub imports: Vec<(String, String, Span)>,
    /// Named on the command line (or a test), not only reached through an import.
    pub root: bool,
    /// Files its calendars' holidays were read from (what the daemon watches).
    pub holidays_files: Vec<PathBuf>,
    /// Each `list name = file("...")`: the declaration's index and its file.
    pub list_paths: Vec<(usize, PathBuf)>,
}

/// Everything loaded: sources, parsed files, and diagnostics from parsing and imports.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    pub files: Vec<LoadedFile>,
    pub diags: Vec<Diagnostic>,
}

/// Loads `paths` (files, or folders searched recursively for `*.rules`). `std_root` is where
/// shipped packs live (`import "std/system"` is `std_root/std/system.rules`).
pub fn load(paths: &[PathBuf], std_root: Option<&Path>) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    let mut roots = Vec::new();
    let mut named_files = Vec::new();
    for p in paths {
        let found = collect(p)?;
        if found.is_empty() {
            return Err(LoadError::Empty(p.clone()));
        }
        if std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
            named_files.push(p.clone());
        }
        roots.extend(found);
    }
    for path in roots {
        let text = read_rules_file(&path)?;
        add_file(&mut loaded, path, text, true, std_root);
    }
    for path in named_files {
        add_package_siblings(&mut loaded, &path, std_root);
    }
    Ok(loaded)
}

/// A package spans the files of its folder: a file named alone (`vigil test auth.test.rules`)
/// sees the declarations of its package's other files there, loaded as imports (their own
/// tests do not run).
fn add_package_siblings(loaded: &mut Loaded, path: &Path, std_root: Option<&Path>) {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let Some(id) = loaded.sources.find(&canonical) else {
        return;
    };
    let Some(package) = loaded
        .files
        .iter()
        .find(|f| f.id == id)
        .map(|f| f.package.clone())
    else {
        return;
    };
    let Some(dir) = canonical.parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut siblings: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules") && p.is_file() && *p != canonical)
        .collect();
    siblings.sort();
    for s in siblings {
        let Ok(text) = read_rules_file(&s) else {
            continue;
        };
        // Its package from its `package` line (else its name), without parsing it: files of
        // other packages are left alone, however large.
        let theirs = package_line(&text).map_or_else(|| stem_package(&s), str::to_string);
        if theirs == package {
            add_file(loaded, s, text, false, std_root);
        }
    }
}

/// Adds an in-memory file (tests, the language server) and what it imports.
pub fn add_file(
    loaded: &mut Loaded,
    path: PathBuf,
    text: String,
    root: bool,
    std_root: Option<&Path>,
) -> FileId {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
    if let Some(id) = loaded.sources.find(&canonical) {
        if root && let Some(f) = loaded.files.iter_mut().find(|f| f.id == id) {
            f.root = true;
        }
        return id;
    }
    let name = display_name(&path);
    let id = loaded.sources.add(canonical.clone(), name, text);
    let mut module = syntax::parse(id, &loaded.sources.get(id).text, &mut loaded.diags);
    let package = package_of(&module, &path);
    let base = canonical
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let list_paths = read_list_files(&mut module, &base, &mut loaded.diags);
    let holidays_files = read_holidays_files(&mut module, &base, &mut loaded.diags);
    let import_decls: Vec<(ast::StrLit, Option<ast::Ident>)> = module
        .decls
        .iter()
        .filter_map(|d| match &d.kind {
            ast::DeclKind::Import { path, alias } => Some((path.clone(), alias.clone())),
            _ => None,
        })
        .collect();
    let index = loaded.files.len();
    loaded.files.push(LoadedFile {
        id,
        module,
        package,
        imports: Vec::new(),
        root,
        holidays_files,
        list_paths,
    });
    for (lit, alias) in import_decls {
        // A file given in memory (an importer checking its packages together) is found by
        // its name before the disk is asked.
        let given = lit
            .value
            .strip_prefix("./")
            .map(|rest| base.join(format!("{rest}.rules")))
            .and_then(|p| loaded.sources.find(&p));
        if let Some(fid) = given {
            if let Some(pkg) = loaded
                .files
                .iter()
                .find(|f| f.id == fid)
                .map(|f| f.package.clone())
            {
                let local = alias
                    .map(|a| a.name)
                    .unwrap_or_else(|| pkg.rsplit('.').next().unwrap_or(&pkg).to_string());
                loaded.files[index].imports.push((local, pkg, lit.span));
            }
            continue;
        }
        let targets = import_targets(&lit.value, &base, std_root);
        if targets.is_empty() {
            loaded.diags.push(
                Diagnostic::new(
                    Code::ImportNotFound,
                    lit.span,
                    format!("cannot find `{}` to import", lit.value),
                )
                .label("no such file or folder"),
            );
            continue;
        }
        let mut pkg = None;
        for t in targets {
            let Ok(text) = read_rules_file(&t) else {
                continue;
            };
            let fid = add_file(loaded, t, text, false, std_root);
            pkg = loaded
                .files
                .iter()
                .find(|f| f.id == fid)
                .map(|f| f.package.clone());
        }
        if let Some(pkg) = pkg {
            let local = alias
                .map(|a| a.name)
                .unwrap_or_else(|| pkg.rsplit('.').next().unwrap_or(&pkg).to_string());
            loaded.files[index].imports.push((local, pkg, lit.span));
        }
    }
    id
}

/// Fills each `list name = file("path")` with the file's entries
/// ([`crate::list_file::entries`]), as strings spanning the path: the checker then types them
/// as it types a literal list (a bad CIDR prefix is reported there, by value). Returns each
/// declaration's index and file.
fn read_list_files(
    module: &mut ast::Module,
    base: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(usize, PathBuf)> {
    let mut files = Vec::new();
    for (index, d) in module.decls.iter_mut().enumerate() {
        let ast::DeclKind::List {
            items,
            file: Some(lit),
            ..
        } = &mut d.kind
        else {
            continue;
        };
        let path = base.join(&lit.value);
        files.push((index, path.clone()));
        let why = match read_text(&path) {
            Ok(text) => {
                let entries = crate::list_file::entries(&text)
                    .map(|(_, l)| ast::Expr {
                        kind: ast::ExprKind::Str(l.to_string()),
                        span: lit.span,
                    })
                    .collect();
                items.kind = ast::ExprKind::List(entries);
                continue;
            }
            Err(why) => why,
        };
        diags.push(
            Diagnostic::new(
                Code::ListFileUnreadable,
                lit.span,
                format!("cannot read list file `{}`: {why}", lit.value),
            )
            .label("read from here"),
        );
    }
    files
}

/// Reads the holidays file of each `calendar ... holidays "file"` (relative to the rules
/// file) into the declaration; an unreadable one is V0228. Returns the files read (watched by
/// the daemon like list files).
fn read_holidays_files(
    module: &mut ast::Module,
    base: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in &mut module.decls {
        let ast::DeclKind::Calendar {
            holidays: Some(lit),
            holidays_text,
            ..
        } = &mut d.kind
        else {
            continue;
        };
        let path = base.join(&lit.value);
        files.push(path.clone());
        match read_text(&path) {
            Ok(t) => *holidays_text = Some(t),
            Err(why) => diags.push(
                Diagnostic::new(
                    Code::BadCalendar,
                    lit.span,
                    format!("cannot read holidays file `{}`: {why}", lit.value),
                )
                .label("read from here"),
            ),
        }
    }
    files
}

fn import_targets(spec: &str, base: &Path, std_root: Option<&Path>) -> Vec<PathBuf> {
    let candidates: Vec<PathBuf> =
        if spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/') {
            vec![base.join(spec)]
        } else {
            std_root.map(|r| vec![r.join(spec)]).unwrap_or_default()
        };
    for c in candidates {
        let with_ext = c.with_extension("rules");
        if c.is_file() {
            return vec![c];
        }
        if with_ext.is_file() {
            return vec![with_ext];
        }
        if c.is_dir() {
            return collect(&c).unwrap_or_default();
        }
    }
    Vec::new()
}

/// `path` itself if a file, else every `*.rules` below it, sorted for stable output. The walk
/// follows each symlinked folder once (a link to `.` cannot loop it), reads only regular files
/// (a FIFO or a link to `/dev/zero` named `x.rules` is skipped, as is a broken link), and stops
/// with an error past [`MAX_WALK`] folders or files, so `import "/"` cannot walk a disk.
pub fn collect(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !meta.is_dir() {
        return Err(LoadError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other("not a regular file or a folder"),
        });
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![path.to_path_buf()];
    let mut visited = 0usize;
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        let entries = std::fs::read_dir(&dir).map_err(|source| LoadError::Io {
            path: dir.clone(),
            source,
        })?;
        for e in entries.flatten() {
            visited += 1;
            if visited > MAX_WALK {
                return Err(LoadError::TooBig(path.to_path_buf()));
            }
            let p = e.path();
            // Follows links: what a link points at decides, and a broken link is nothing.
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() && p.extension().is_some_and(|x| x == "rules") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The most folder entries one walk looks at.
pub const MAX_WALK: usize = 100_000;

/// The largest `.rules` file read (16 MiB): larger ones are refused, not read into memory.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A rules file's text, refused past [`MAX_FILE_BYTES`] (and when not a regular file).
pub fn read_rules_file(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(io(std::io::Error::other(format!(
            "larger than {} MiB, the limit of a rules file",
            MAX_FILE_BYTES >> 20
        ))));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        io(std::io::Error::other(format!(
            "not valid UTF-8 (at byte {at})"
        )))
    })
}

/// The name a `package NAME` line at the start of a line declares.
fn package_line(text: &str) -> Option<&str> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("package")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let name = rest
            .trim()
            .split(|c: char| c.is_whitespace() || c == '#')
            .next()?;
        (!name.is_empty()).then_some(name)
    })
}

/// The package of a file without a `package` declaration: its stem (`x.test.rules` is `x`).
fn stem_package(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("main")
        .trim_end_matches(".test")
        .to_string()
}

/// A file's package: its `package` declaration, else its file stem (`x.test.rules` is `x`).
fn package_of(module: &ast::Module, path: &Path) -> String {
    module
        .decls
        .iter()
        .find_map(|d| match &d.kind {
            ast::DeclKind::Package(p) => Some(p.name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| stem_package(path))
}

fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let shown = cwd
        .and_then(|c| path.strip_prefix(&c).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    shown.to_string_lossy().into_owned()
}
