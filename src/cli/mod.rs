//! Subcommands. Exit codes: 0 clean, 1 findings (errors, or warnings with --deny-warnings),
//! 2 usage or I/O errors.

mod audit;
mod check;
mod client;
mod eval;
mod explain;
mod fmt;
mod import;
mod notify;
mod playbook;
mod replay;
mod routes;
mod run;
mod silence;
mod test;
mod trace;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `println!` for command output: a reader that went away (`| head`) ends the command
/// quietly, any other failure (`> /dev/full`) is reported and exits 2, never a panic.
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($t)*))) };
}
/// `print!` for command output, as [`outln!`].
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*)) };
}
pub(crate) use {out, outln};

/// Writes and flushes command output (see [`outln!`]).
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        output_failed(&e);
    }
}

/// Ends the process after stdout failed: quietly when the reader left, else with an error.
pub fn output_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    errout(format_args!("error: cannot write the output: {e}\n"));
    std::process::exit(2);
}

pub use crate::render::printable;

/// `eprint!` that does not panic when stderr is gone (there is nowhere left to say so).
pub fn errout(args: std::fmt::Arguments) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(args);
}

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "Check, test and run Vigil monitoring and detection rules"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check .rules files for errors and lint warnings.
    Check(CheckArgs),
    /// Run event rules' filters over JSON-lines events; print which rules each event matches.
    Eval(EvalArgs),
    /// Backtest rules over recorded samples and events; print the alert timeline as JSON lines.
    Replay(ReplayArgs),
    /// A language server over stdio (diagnostics, hover, definitions, references,
    /// completion, outline, formatting, quick fixes) for editors.
    Lsp {
        /// Where `import "std/..."` packs are read from (default: the packs built into vigil,
        /// or $VIGIL_RULES).
        #[arg(long)]
        rules_root: Option<PathBuf>,
    },
    /// Rewrite .rules files in the canonical layout (`--check`: list files that would change).
    Fmt(FmtArgs),
    /// Translate other tools' rules into .rules files: `vigil import prometheus RULES.yml...`.
    Import(ImportArgs),
    /// Run the `test` blocks of rule files (promtool-style series, events, expectations).
    Test(TestArgs),
    /// Run the daemon: ingest over HTTP, evaluate continuously, serve alerts, keep state.
    Run(RunArgs),
    /// Show a running daemon's pending and firing alerts.
    Alerts(AlertsArgs),
    /// Acknowledge an alert of a running daemon (token from $VIGIL_API_TOKEN).
    Ack(AckArgs),
    /// The notification route tree: `vigil routes test --rules PATH LABEL=VALUE...`.
    Routes(RoutesArgs),
    /// Silences of a running daemon: add, list, expire (token from $VIGIL_API_TOKEN).
    Silence(SilenceArgs),
    /// Notifications of a running daemon: recent and pending, or `--failed` (dead letters).
    Notifications(NotificationsArgs),
    /// Send a sample notification through a notifier of the rules, to try it and its texts.
    Notify(NotifyArgs),
    /// The daemon's tamper-evident audit log: verify, search, prove, consistency, report, dump.
    Audit(AuditArgs),
    /// Playbooks: `vigil playbook run NAME --dry-run --rules PATH --alert JSON` shows every
    /// step and every rendered request without sending anything.
    Playbook(PlaybookArgs),
    /// A running daemon's playbook runs, newest first (as `vigil playbook list`).
    Playbooks {
        /// The daemon (default: $VIGIL_SERVER, else http://127.0.0.1:9097).
        #[arg(long)]
        server: Option<String>,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
    /// Explain a diagnostic code, with a wrong and a right example.
    Explain {
        /// A code like V0101; `--list` shows them all.
        code: Option<String>,
        #[arg(long)]
        list: bool,
    },
    /// Print a shell completion script (`vigil completions bash > /etc/bash_completion.d/vigil`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page, in roff (`vigil man > vigil.1; man ./vigil.1`).
    Man,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Files, or folders searched recursively for *.rules (default: the current folder).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Where `import "std/..."` packs are read from (default: the packs built into vigil, or
    /// $VIGIL_RULES).
    #[arg(long)]
    pub rules_root: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct RoutesArgs {
    #[command(subcommand)]
    pub command: RoutesCommand,
}

#[derive(Subcommand, Debug)]
pub enum RoutesCommand {
    /// Print the notifiers a label set reaches, comma-separated in tree order (with repeats),
    /// as `amtool config routes test` prints receivers.
    Test {
        /// A rule file or folder holding the `route` declarations (repeatable).
        #[arg(long, required = true)]
        rules: Vec<PathBuf>,
        /// Where `import "std/..."` packs are read from.
        #[arg(long)]
        rules_root: Option<PathBuf>,
        /// The alert's labels, `name=value`.
        labels: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct SilenceArgs {
    #[command(subcommand)]
    pub command: SilenceCommand,
    /// The daemon (default: $VIGIL_SERVER, else http://127.0.0.1:9097).
    #[arg(long, global = true)]
    pub server: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SilenceCommand {
    /// Silence the alerts every matcher matches (`name=value`, `name!=value`, `name=~re`,
    /// `name!~re`); prints the new silence's id.
    Add {
        /// Who owns it (reminded before it ends; default: $USER).
        #[arg(long, default_value_t = std::env::var("USER").unwrap_or_default())]
        by: String,
        #[arg(long, default_value = "")]
        comment: String,
        /// How long from the start (like 2h); or give `--until`.
        #[arg(long, conflicts_with = "until")]
        duration: Option<String>,
        /// The end, RFC 3339.
        #[arg(long)]
        until: Option<String>,
        /// The start, RFC 3339 (default: now).
        #[arg(long)]
        start: Option<String>,
        #[arg(required = true)]
        matchers: Vec<String>,
    },
    /// The silences, active first; `--expired` includes ended ones.
    List {
        #[arg(long)]
        expired: bool,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
    /// End silences now.
    Expire {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct NotificationsArgs {
    /// The daemon (default: $VIGIL_SERVER, else http://127.0.0.1:9097).
    #[arg(long)]
    pub server: Option<String>,
    /// The dead letters: notifications given up, with why.
    #[arg(long)]
    pub failed: bool,
    #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
    pub format: AlertsFormat,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
    /// The daemon's data directory.
    #[arg(long, global = true, default_value = "vigil-data")]
    pub data_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check every entry's chain hash, position and every signed checkpoint; names the
    /// position and kind of any change (exit 1). The chain key, when the log has one, comes
    /// from $VIGIL_AUDIT_HMAC_KEY.
    Verify {
        /// The checkpoints' public key (hex, or a file holding it); default: the data
        /// directory's `audit/signing.pub`.
        #[arg(long)]
        key: Option<String>,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
    /// Entries matching every filter given, oldest first.
    Search {
        /// RFC 3339, or a duration back from now (`30h`).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// The entry's kind: alert, notification, silence, ack, reload, app, recovery.
        #[arg(long = "type")]
        kind: Option<String>,
        /// An alert's rule (`package.name`).
        #[arg(long)]
        rule: Option<String>,
        /// An application event's `project_name`.
        #[arg(long)]
        project: Option<String>,
        /// Text anywhere in the entry.
        #[arg(long)]
        text: Option<String>,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
    /// The inclusion proof of entry SEQ against the newest checkpoint covering it (JSON,
    /// checkable offline with the public key).
    Prove { seq: u64 },
    /// The consistency proof between the checkpoints of OLD and NEW entries: the older signed
    /// tree is a prefix of the newer (JSON, checkable offline).
    Consistency { old: u64, new: u64 },
    /// A compliance summary: alerts fired by severity and rule, time to acknowledge,
    /// notifications sent and failed, silences and who set them, reloads.
    Report {
        /// RFC 3339, or a duration back from now (`7d`).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
    /// The applications' own events (`POST /api/v1/audit`) grouped by project, as one JSON
    /// document.
    Dump {
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// What to group by (only `project` for now).
        #[arg(long, default_value = "project")]
        by: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct PlaybookArgs {
    #[command(subcommand)]
    pub command: PlaybookCommand,
}

#[derive(Subcommand, Debug)]
pub enum PlaybookCommand {
    /// Show each step of playbook NAME as it would run for an alert.
    Run {
        name: String,
        /// Show the steps and rendered requests; send nothing (required: playbooks run in the
        /// daemon).
        #[arg(long)]
        dry_run: bool,
        /// Rule files or folders declaring it.
        #[arg(long, required = true)]
        rules: Vec<PathBuf>,
        /// Where `import "std/..."` packs are read from.
        #[arg(long)]
        rules_root: Option<PathBuf>,
        /// The alert: `{"labels": {...}, "annotations": {...}, "value": 1}`.
        #[arg(long, default_value = "{}")]
        alert: String,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
    /// Let a run waiting at an approval step continue (token from $VIGIL_API_TOKEN).
    Approve {
        /// The run's id (`vigil playbooks` shows it).
        id: String,
        /// Who approves (default: $USER).
        #[arg(long, default_value_t = std::env::var("USER").unwrap_or_default())]
        by: String,
        /// The daemon (default: $VIGIL_SERVER, else http://127.0.0.1:9097).
        #[arg(long)]
        server: Option<String>,
    },
    /// A running daemon's playbook runs, newest first.
    List {
        #[arg(long)]
        server: Option<String>,
        #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
        format: AlertsFormat,
    },
}

#[derive(clap::Args, Debug)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Render a sample notification and send it through NOTIFIER (secrets from the
    /// environment); prints what was sent and what came of it.
    Test {
        /// The notifier's name in the rules.
        notifier: String,
        /// Rule files or folders declaring it.
        #[arg(long, required = true)]
        rules: Vec<PathBuf>,
        /// Where `import "std/..."` packs are read from.
        #[arg(long)]
        rules_root: Option<PathBuf>,
        /// The sample alert: `{"labels": {...}, "annotations": {...}}` (default: a firing
        /// `VigilTest` alert).
        #[arg(long)]
        alert: Option<String>,
        /// A daemon configuration whose `[notify]` destinations apply (default: public
        /// addresses only).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct AlertsArgs {
    /// The daemon (default: $VIGIL_SERVER, else http://127.0.0.1:9097).
    #[arg(long)]
    pub server: Option<String>,
    /// `pending` or `firing`.
    #[arg(long)]
    pub state: Option<String>,
    /// Only this rule (`package.name`).
    #[arg(long)]
    pub rule: Option<String>,
    #[arg(long, value_enum, default_value_t = AlertsFormat::Table)]
    pub format: AlertsFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertsFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct AckArgs {
    /// The alert's id (`vigil alerts` shows it).
    pub id: String,
    /// The daemon (default: $VIGIL_SERVER, else http://127.0.0.1:9097).
    #[arg(long)]
    pub server: Option<String>,
    /// Who acknowledges (default: $USER).
    #[arg(long, default_value_t = std::env::var("USER").unwrap_or_default())]
    pub by: String,
    #[arg(long, default_value = "")]
    pub comment: String,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The daemon's configuration (TOML); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Rule files or folders (default: the config's, else the shipped packs).
    #[arg(long, num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// Where the write-ahead log and checkpoints live (default: ./vigil-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default: 127.0.0.1:9097; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
    /// Where `import "std/..."` packs are read from (default: the packs built into vigil,
    /// or $VIGIL_RULES).
    #[arg(long)]
    pub rules_root: Option<PathBuf>,
    /// `jit` (native code, the default) or `interp` (the reference interpreter).
    #[arg(long, default_value = "jit")]
    pub engine: vigil_compiler::eval::Engine,
    /// How alert changes are printed on stdout: `human` lines or `json` lines.
    #[arg(long, value_enum, default_value_t = TimelineFormat::Human)]
    pub format: TimelineFormat,
    /// Also read samples and events from standard input (the replay format), to its end.
    #[arg(long)]
    pub stdin: bool,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Rule files or folders.
    #[arg(long, required = true, num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// JSON lines: `{"ts": ..., "event": {...}}` or bare event objects; `-` for stdin.
    #[arg(long)]
    pub input: PathBuf,
    /// `jit` (native code, the default) or `interp` (the reference interpreter).
    #[arg(long, default_value = "jit")]
    pub engine: vigil_compiler::eval::Engine,
    /// Print throughput to stderr.
    #[arg(long)]
    pub stats: bool,
    /// Print nothing per event (with --stats: measure).
    #[arg(long)]
    pub quiet: bool,
    /// Evaluate every filter for every event instead of the candidates the rule index picks.
    #[arg(long)]
    pub no_index: bool,
    /// Longer lines are refused (counted as bad lines) without being read into memory.
    #[arg(long, default_value_t = vigil_ingest::lines::MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Where `import "std/..."` packs are read from (default: the packs built into vigil, or
    /// $VIGIL_RULES).
    #[arg(long)]
    pub rules_root: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Rule files or folders.
    #[arg(long, required = true, num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// Recorded data: JSON lines (samples and events), Prometheus text exposition with
    /// timestamps (`.prom`), Influx line protocol (`.lp`, `.influx`); `-` for stdin.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// The evaluation interval (`1m`, `15s`); default: the rules' `interval`, else 15s.
    #[arg(long)]
    pub interval: Option<String>,
    /// `jit` (native code, the default) or `interp` (the reference interpreter).
    #[arg(long, default_value = "jit")]
    pub engine: vigil_compiler::eval::Engine,
    /// Print throughput and evaluation latency percentiles to stderr.
    #[arg(long)]
    pub stats: bool,
    /// Print no timeline (with --stats: measure).
    #[arg(long)]
    pub quiet: bool,
    /// `human` (times, rule, state, severity, labels, summary; the default on a terminal) or
    /// `json` (one JSON line per change; the default when piped).
    #[arg(long)]
    pub format: Option<TimelineFormat>,
    /// How late a sample may arrive (out of order) and still count: each evaluation waits
    /// until the input has passed its time by this much (`30s`); later samples are dropped
    /// and counted. Default 0: inputs are expected in time order per file.
    #[arg(long)]
    pub lateness: Option<String>,
    /// Series one rule's selector may hold; new series past it are refused and counted.
    #[arg(long, default_value_t = 100_000)]
    pub max_series: usize,
    /// Keys (groups, sequence keys) one event rule may track; events of new keys past it are
    /// refused and counted.
    #[arg(long, default_value_t = vigil_engine::events::DEFAULT_MAX_KEYS)]
    pub max_keys: usize,
    /// Longer lines are refused (counted as bad lines) without being read into memory.
    #[arg(long, default_value_t = vigil_ingest::lines::MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// A record further than this ahead of the data before it (`7d`; `none` to accept any
    /// jump) is fed only when the record after it is that far ahead too; a lone one is
    /// refused as a mistyped time (reported with its line).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub max_jump: String,
    /// Why did (or didn't) it fire: print each evaluation of this rule (`name` or
    /// `package.name`; repeatable), per label set, with every part of its condition, the
    /// values compared and whether each held.
    #[arg(long, value_name = "RULE")]
    pub trace: Vec<String>,
    /// Where `import "std/..."` packs are read from (default: the packs built into vigil, or
    /// $VIGIL_RULES).
    #[arg(long)]
    pub rules_root: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Files, or folders searched recursively for *.rules (default: the current folder).
    pub paths: Vec<PathBuf>,
    /// Change nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// What the files are: `prometheus` (rule files and PrometheusRule objects),
    /// `promtool-tests` (`promtool test rules` files; their rule file is read too),
    /// `alertmanager` (alertmanager.yml: receivers, the route tree, inhibitions, time
    /// intervals), `falco` (rule files, loaded together in Falco's order), `sigma` (rule
    /// files, or folders of them).
    #[arg(value_enum)]
    pub kind: ImportKind,
    /// The files to translate.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write one NAME.rules per input here (default: stdout, for one input).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Falco: a YAML map of Falco field names to event paths (`proc.name: process.name`)
    /// overriding the default mapping. Sigma: field names and log sources
    /// (`fields:`, `logsources:`), like pySigma's pipelines (`docs/importing.md`).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// `human` (a summary on stderr) or `json` (every item's outcome on stdout with --out).
    #[arg(long, value_enum, default_value_t = ImportFormat::Human)]
    pub format: ImportFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Prometheus,
    PromtoolTests,
    Alertmanager,
    Falco,
    Sigma,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    Human,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Files, or folders searched recursively for *.rules (default: the current folder).
    pub paths: Vec<PathBuf>,
    /// `jit` (native code, the default) or `interp` (the reference interpreter).
    #[arg(long, default_value = "jit")]
    pub engine: vigil_compiler::eval::Engine,
    /// Run only tests whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Print every test's alert state changes.
    #[arg(long, short)]
    pub verbose: bool,
    /// Where `import "std/..."` packs are read from (default: the packs built into vigil, or
    /// $VIGIL_RULES).
    #[arg(long)]
    pub rules_root: Option<PathBuf>,
}

/// How `vigil replay` prints the alert timeline.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimelineFormat {
    Human,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Test(args) => test::run(args),
        Command::Run(args) => run::run(args),
        Command::Alerts(args) => client::alerts(args),
        Command::Ack(args) => client::ack(args),
        Command::Routes(args) => routes::run(args),
        Command::Silence(args) => silence::run(args),
        Command::Notifications(args) => client::notifications(args),
        Command::Notify(args) => notify::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Playbook(args) => playbook::run(args),
        Command::Playbooks { server, format } => playbook::list(&server, format),
        Command::Fmt(args) => fmt::run(args),
        Command::Import(args) => import::run(args),
        Command::Lsp { rules_root } => crate::lsp::run(rules_root),
        Command::Explain { code, list } => explain::run(code.as_deref(), list),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "vigil", &mut buf);
            out!("{}", String::from_utf8_lossy(&buf));
            0
        }
        Command::Man => {
            let mut buf = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut buf) {
                Ok(()) => {
                    out!("{}", String::from_utf8_lossy(&buf));
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
    }
}

/// Checks rule files; on errors prints them (saying `what` did not happen) and returns the
/// exit code.
pub fn check_or_report(
    paths: &[PathBuf],
    root: Option<PathBuf>,
    what: &str,
) -> Result<vigil_compiler::Checked, i32> {
    use std::io::IsTerminal;
    let root = crate::config::rules_root(root);
    let checked = match vigil_compiler::check_paths(paths, root.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(2);
        }
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if let Some((text, n)) = rendered_errors(&checked, colour) {
        errout(format_args!("{text}"));
        eprintln!("error: the rules have {n} error(s); {what}");
        return Err(1);
    }
    Ok(checked)
}

/// The checker's errors rendered for people, and how many; `None` when there are none.
pub fn rendered_errors(checked: &vigil_compiler::Checked, colour: bool) -> Option<(String, usize)> {
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    (!errors.is_empty()).then(|| {
        (
            crate::render::human(&errors, &checked.sources, colour),
            errors.len(),
        )
    })
}

/// Where lowering failed, as `file:line:col`.
pub fn lower_error(
    checked: &vigil_compiler::Checked,
    e: &vigil_compiler::lower::LowerError,
) -> String {
    let file = checked.sources.get(e.span.file);
    let (line, col) = file.line_col(e.span.start as usize);
    format!("{}:{line}:{col}: cannot compile: {}", file.name, e.message)
}

/// Checks and compiles rule files for evaluation. Prints what is wrong and returns the exit
/// code on failure.
pub fn load_rules(
    paths: &[PathBuf],
    root: Option<PathBuf>,
    engine: vigil_compiler::eval::Engine,
) -> Result<vigil_compiler::eval::RuleSet, i32> {
    let checked = check_or_report(paths, root, "nothing was evaluated")?;
    match vigil_compiler::eval::RuleSet::from_checked_with(&checked, engine, &crate::config::secret)
    {
        Ok(r) => {
            if let Some(why) = &r.fallback {
                eprintln!("note: using the interpreter: {why}");
            }
            Ok(r)
        }
        Err(e) => {
            eprintln!("error: {}", lower_error(&checked, &e));
            Err(1)
        }
    }
}
