//! Lists read from files that fields are tested against (`in`, `in nocase`, `in cidr`, string
//! operators' patterns) are looked up in tables a running rule set can replace: the same
//! answers as the list written literally, on both engines, and a new version of the file
//! takes effect without recompiling.

use serde_json::{Value, json};
use std::path::Path;
use vigil_compiler::eval::{Engine, RuleSet};
use vigil_compiler::ir::Role;

const USERS: &str = "# admins\nroot\nAlice\n\n  bob  \n";
const NETS: &str = "10.0.0.0/8\n2001:db8::/32\n192.168.1.7\n";

/// The conditions tested, each written over `{users}` and `{nets}`.
const CONDITIONS: &[&str] = &[
    "event.user in {users}",
    "event.user not in {users}",
    "event.user in nocase {users}",
    "event.user not in nocase {users}",
    "event.ip in cidr {nets}",
    "event.ip not in cidr {nets}",
    "any t in event.tags where t in {users}",
    "event.type == \"login\" and event.user in {users}",
    "event.user contains any {users}",
    "event.user not endswith any nocase {users}",
    "event.user startswith all {users}",
    "event.user glob any {users}",
    "event.tags contains any {users}",
    "event.tags endswith any nocase {users}",
    "any t in event.tags where t startswith any {users}",
];

fn events() -> Vec<Value> {
    vec![
        json!({"user": "root", "ip": "10.1.2.3", "type": "login"}),
        json!({"user": "alice", "ip": "10.0.0.1"}),
        json!({"user": "Alice", "ip": "11.0.0.1", "type": "login"}),
        json!({"user": "bob", "ip": "2001:db8::1"}),
        json!({"user": " bob", "ip": "2001:db9::1"}),
        json!({"user": "eve", "ip": "192.168.1.7"}),
        json!({"user": 5, "ip": "not an address"}),
        json!({"user": ["root"], "ip": 10}),
        json!({"ip": "::ffff:10.0.0.9"}),
        json!({"tags": ["x", "bob"], "user": "ROOT"}),
        json!({"tags": [], "user": null}),
        json!({"user": "rootbob", "tags": ["xBOB", "ali"]}),
        json!({"user": "superALICE", "tags": "bob"}),
    ]
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A rule set of one rule per condition, over the files or over literal lists.
fn rules(dir: &Path, from_files: bool, extra: &str, engine: Engine) -> RuleSet {
    let (users, nets) = if from_files {
        (
            "file(\"users.txt\")".to_string(),
            "file(\"nets.txt\")".to_string(),
        )
    } else {
        let quote = |t: &str| {
            let items: Vec<String> = vigil_compiler::list_file::entries(t)
                .map(|(_, e)| format!("{e:?}"))
                .collect();
            format!("[{}]", items.join(", "))
        };
        (quote(USERS), quote(NETS))
    };
    let mut src =
        format!("package f\n\nlist admins = {users}\nlist nets: cidr = {nets}\n{extra}\n");
    for (i, c) in CONDITIONS.iter().enumerate() {
        let c = c.replace("{users}", "admins").replace("{nets}", "nets");
        src += &format!("rule r{i} {{\n  severity info\n  on event where {c}\n}}\n");
    }
    write(dir, "f.rules", &src);
    let checked = vigil_compiler::check_paths(&[dir.join("f.rules")], None).unwrap();
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let rs = RuleSet::from_checked(&checked, engine).unwrap();
    assert_eq!(rs.engine(), engine, "{:?}", rs.fallback);
    rs
}

/// The filter programs, one per rule, in order.
fn filters(rs: &RuleSet) -> Vec<usize> {
    let ir = rs.ir();
    (0..ir.programs.len())
        .filter(|i| ir.programs[*i].role == Role::Filter)
        .collect()
}

/// Which rules each event matches.
fn answers(rs: &RuleSet) -> Vec<Vec<bool>> {
    let filters = filters(rs);
    events()
        .iter()
        .map(|e| {
            let mut f = rs.frame();
            f.fill_json(rs.ir(), e);
            filters.iter().map(|p| rs.eval_bool(*p, &f)).collect()
        })
        .collect()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "users.txt", USERS);
    write(dir.path(), "nets.txt", NETS);
    dir
}

#[test]
fn file_lists_answer_as_literal_lists_on_both_engines() {
    let dir = setup();
    let want = answers(&rules(dir.path(), false, "", Engine::Interp));
    assert!(want.iter().flatten().any(|b| *b) && want.iter().flatten().any(|b| !*b));
    for engine in [Engine::Interp, Engine::Jit] {
        let rs = rules(dir.path(), true, "", engine);
        assert_eq!(
            rs.ir().lists.len(),
            2,
            "both lists are looked up at run time"
        );
        assert!(rs.ir().list_files.is_empty(), "{:?}", rs.ir().list_files);
        assert_eq!(answers(&rs), want, "{engine:?}");
    }
}

#[test]
fn a_new_version_of_the_file_is_read_without_recompiling() {
    let dir = setup();
    for engine in [Engine::Interp, Engine::Jit] {
        write(dir.path(), "users.txt", USERS);
        write(dir.path(), "nets.txt", NETS);
        let rs = rules(dir.path(), true, "", engine);
        let eve = json!({"user": "eve", "ip": "172.16.0.1"});
        let hits = |rs: &RuleSet| -> Vec<bool> {
            let filters = filters(rs);
            let mut f = rs.frame();
            f.fill_json(rs.ir(), &eve);
            filters.iter().map(|p| rs.eval_bool(*p, &f)).collect()
        };
        let before = hits(&rs);
        assert_eq!(&before[..6], [false, true, false, true, false, true]);
        write(dir.path(), "users.txt", "EVE\neve\n");
        write(dir.path(), "nets.txt", "172.16.0.0/12\n");
        let users = rs.ir().lists.iter().find(|l| l.name == "f.admins").unwrap();
        let nets = rs.ir().lists.iter().find(|l| l.name == "f.nets").unwrap();
        assert_eq!((users.reload(), nets.reload()), (Ok(2), Ok(1)));
        assert_eq!(&hits(&rs)[..6], [true, false, true, false, true, false]);
        // An empty file: a list of no strings, which every string is not in.
        write(dir.path(), "users.txt", "# nobody\n");
        assert_eq!(users.reload(), Ok(0));
        assert_eq!(&hits(&rs)[..4], [false, true, false, true]);
        write(dir.path(), "users.txt", "EVE\neve\n");
        assert_eq!(users.reload(), Ok(2));
        // A bad network keeps the contents in place, and says which line.
        write(dir.path(), "nets.txt", "# v3\n10.0.0.0/8\n10.0.0.0/33\n");
        let why = nets.reload().unwrap_err();
        assert!(
            why.contains("line 3") && why.contains("10.0.0.0/33"),
            "{why}"
        );
        std::fs::remove_file(dir.path().join("users.txt")).unwrap();
        let why = users.reload().unwrap_err();
        assert!(why.contains("V0120"), "{why}");
        assert_eq!((users.entries(), nets.entries()), (2, 1));
        assert_eq!(&hits(&rs)[..6], [true, false, true, false, true, false]);
    }
}

#[test]
fn a_list_inlined_elsewhere_reloads_the_rules() {
    let dir = setup();
    let extra = "list everyone = [...admins, \"guest\"]\n\
                 rule spread {\n  severity info\n  on event where event.user in everyone\n}\n";
    let rs = rules(dir.path(), true, extra, Engine::Interp);
    let files: Vec<_> = rs
        .ir()
        .list_files
        .iter()
        .map(|p| p.file_name().unwrap())
        .collect();
    assert_eq!(
        files,
        ["users.txt"],
        "the spread list's file; not the one only tested"
    );
    assert_eq!(rs.ir().lists.len(), 2);
}

/// A threat feed of 150,000 domains under `nocase` (past what one case-insensitive regex can
/// hold) loads and matches on both engines, arrays' elements included.
#[test]
fn a_large_nocase_feed_loads_and_matches() {
    let dir = tempfile::tempdir().unwrap();
    let feed: String = (0..150_000)
        .map(|i| format!("Bad{i}.Example.NET\n"))
        .collect();
    write(dir.path(), "feed.txt", &feed);
    let src = "package f\n\nlist feed = file(\"feed.txt\")\n\
               rule ends {\n  severity info\n  on event where event.host endswith any nocase feed\n}\n\
               rule has {\n  severity info\n  on event where event.url contains any nocase feed\n}\n\
               rule tag {\n  severity info\n  on event where event.tags contains any nocase feed\n}\n";
    write(dir.path(), "f.rules", src);
    let checked = vigil_compiler::check_paths(&[dir.path().join("f.rules")], None).unwrap();
    assert!(
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "{:#?}",
        checked.diagnostics
    );
    let cases = [
        (
            json!({"host": "www.bad149999.example.net"}),
            [true, false, false],
        ),
        (
            json!({"host": "BAD7.EXAMPLE.NET.evil"}),
            [false, false, false],
        ),
        (
            json!({"url": "http://bad42.example.net/x"}),
            [false, true, false],
        ),
        (
            json!({"url": "http://bad42.example.ne/x"}),
            [false, false, false],
        ),
        (
            json!({"tags": ["x", "bad3.example.NET"]}),
            [false, false, true],
        ),
        (
            json!({"tags": ["x.bad3.example.net"]}),
            [false, false, false],
        ),
    ];
    for engine in [Engine::Interp, Engine::Jit] {
        let rs = RuleSet::from_checked(&checked, engine).unwrap();
        let filters = filters(&rs);
        for (e, want) in &cases {
            let mut f = rs.frame();
            f.fill_json(rs.ir(), e);
            let got: Vec<bool> = filters.iter().map(|p| rs.eval_bool(*p, &f)).collect();
            assert_eq!(got, want, "{engine:?} {e}");
        }
    }
}
