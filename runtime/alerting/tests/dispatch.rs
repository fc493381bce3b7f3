//! Groups, timers, the notification log, silences, inhibition and reminders on a clock the
//! test moves: what the daemon and `vigil test` both run.

use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_alerting::{Alert, Alerting, Matcher, Notification, Settings, Silence};
use vigil_vocab::MatchOp;
use vigil_vocab::notify::{InhibitPlan, Routing};
use vigil_vocab::route::{Cond, Route};

const S: i64 = 1000;

fn eq(label: &str, value: &str) -> Cond {
    Cond::Match {
        label: label.into(),
        op: MatchOp::Eq,
        value: value.into(),
        re: None,
    }
}

fn routing() -> Routing {
    let mut tree = Route {
        notifiers: vec!["log".into()],
        group_by: Some(vec!["alertname".into()]),
        group_wait: Some(30.0),
        group_interval: Some(300.0),
        repeat: Some(3600.0),
        routes: vec![Route {
            cond: Some(eq("team", "db")),
            notifiers: vec!["db".into()],
            ..Route::default()
        }],
        ..Route::default()
    };
    tree.inherit(&Route::default());
    Routing {
        tree,
        inhibits: vec![InhibitPlan {
            target: eq("severity", "warning"),
            source: eq("severity", "critical"),
            equal: vec!["host".into()],
            unless: false,
        }],
        ..Routing::default()
    }
}

fn alert(name: &str, labels: &[(&str, &str)], at: i64) -> Alert {
    let mut l: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert("alertname".into(), name.into());
    Alert {
        labels: l,
        annotations: BTreeMap::new(),
        starts_at: at,
        ends_at: None,
        updated_at: at,
        generator_url: String::new(),
        flapping: false,
        external: false,
    }
}

fn resolved(mut a: Alert, at: i64) -> Alert {
    a.ends_at = Some(at);
    a.updated_at = at;
    a
}

/// Ticks every second from `from` to `to` (inclusive), collecting what is sent.
fn run(al: &mut Alerting, from: i64, to: i64) -> Vec<Notification> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        out.extend(al.tick(t));
        t += S;
    }
    out
}

fn names(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| {
            let state = if a.resolved_at(n.ts) {
                "resolved"
            } else {
                "firing"
            };
            format!(
                "{}{{host={}}} {state}",
                a.name(),
                a.labels.get("host").map_or("", |s| s)
            )
        })
        .collect()
}

#[test]
fn first_after_group_wait_then_batched_per_interval_then_repeated() {
    let mut al = Alerting::new(Arc::new(routing()), Settings::default());
    al.put(alert("cpu", &[("host", "a")], 0), 0);
    assert!(run(&mut al, 0, 5 * S).is_empty());
    al.put(alert("cpu", &[("host", "b")], 10 * S), 10 * S);
    let sent = run(&mut al, 6 * S, 40 * S);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].ts, 30 * S, "group_wait");
    assert_eq!(sent[0].notifier, "log");
    assert_eq!(
        names(&sent[0]),
        ["cpu{host=a} firing", "cpu{host=b} firing"]
    );
    assert_eq!(sent[0].group_labels["alertname"], "cpu");

    // A new alert waits for the group's interval.
    al.put(alert("cpu", &[("host", "c")], 60 * S), 60 * S);
    let sent = run(&mut al, 41 * S, 400 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ts, 330 * S, "group_interval after the first flush");
    assert_eq!(sent[0].alerts.len(), 3);
    assert_eq!(sent[0].reason, "new_alerts");

    // Resolved: reported at the next flush, then the alert leaves the group.
    al.put(
        resolved(alert("cpu", &[("host", "a")], 0), 700 * S),
        700 * S,
    );
    let sent = run(&mut al, 401 * S, 1000 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ts, 930 * S);
    assert_eq!(sent[0].reason, "new_resolved");
    assert_eq!(
        names(&sent[0]),
        [
            "cpu{host=a} resolved",
            "cpu{host=b} firing",
            "cpu{host=c} firing"
        ]
    );

    // Nothing changes: repeated after `repeat` (at the first flush past it).
    let sent = run(&mut al, 1001 * S, 4600 * S);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].ts, 4530 * S);
    assert_eq!(sent[0].reason, "repeat");
    assert_eq!(sent[0].alerts.len(), 2);
}

#[test]
fn everything_resolved_is_sent_once_and_the_group_goes() {
    let mut al = Alerting::new(Arc::new(routing()), Settings::default());
    al.put(alert("disk", &[("host", "a"), ("team", "db")], 0), 0);
    let sent = run(&mut al, 0, 30 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].notifier, "db", "the child route's notifier");
    al.put(
        resolved(alert("disk", &[("host", "a"), ("team", "db")], 0), 40 * S),
        40 * S,
    );
    let sent = run(&mut al, 31 * S, 400 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), "resolved");
    assert_eq!(sent[0].reason, "all_resolved");
    assert!(al.state().groups.is_empty());
    assert!(al.state().alerts.is_empty());
    assert!(run(&mut al, 401 * S, 5000 * S).is_empty());
}

#[test]
fn an_alert_that_started_long_ago_is_sent_at_once() {
    let mut al = Alerting::new(Arc::new(routing()), Settings::default());
    al.put(alert("old", &[], 0), 100 * S);
    let sent = al.tick(100 * S);
    assert_eq!(sent.len(), 1);
}

#[test]
fn silences_and_inhibitions_mute_and_release() {
    let mut al = Alerting::new(Arc::new(routing()), Settings::default());
    al.put(
        alert("load", &[("host", "a"), ("severity", "warning")], 0),
        0,
    );
    al.put(
        alert("down", &[("host", "a"), ("severity", "critical")], 0),
        0,
    );
    al.put(
        alert("load", &[("host", "b"), ("severity", "warning")], 0),
        0,
    );
    let s = Silence {
        id: "s1".into(),
        matchers: vec![Matcher {
            name: "host".into(),
            value: "b".into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at: 0,
        ends_at: 100 * S,
        created_by: "alice".into(),
        comment: "maintenance".into(),
        updated_at: 0,
        hid_since: None,
        reminded: Vec::new(),
    };
    al.set_silence(s, 0).unwrap();
    let sent = run(&mut al, 0, 30 * S);
    let all: Vec<String> = sent.iter().flat_map(names).collect();
    assert_eq!(
        all,
        ["down{host=a} firing"],
        "load/a inhibited, load/b silenced"
    );
    let views = al.alerts(30 * S);
    let load_a = views
        .iter()
        .find(|v| v.alert.name() == "load" && v.alert.labels["host"] == "a")
        .unwrap();
    assert_eq!(load_a.state, "suppressed");
    assert_eq!(load_a.inhibited_by.len(), 1);

    // The critical alert resolves and the silence ends: both warnings are sent.
    al.put(
        resolved(
            alert("down", &[("host", "a"), ("severity", "critical")], 0),
            200 * S,
        ),
        200 * S,
    );
    let sent = run(&mut al, 31 * S, 400 * S);
    let all: Vec<String> = sent.iter().flat_map(names).collect();
    assert!(all.contains(&"load{host=a} firing".to_string()), "{all:?}");
    assert!(all.contains(&"load{host=b} firing".to_string()), "{all:?}");
    assert!(
        all.contains(&"down{host=a} resolved".to_string()),
        "{all:?}"
    );
}

#[test]
fn silence_owners_are_reminded() {
    let settings = Settings {
        remind_before: 600 * S,
        forgotten_after: 60 * S,
        ..Settings::default()
    };
    let mut al = Alerting::new(Arc::new(routing()), settings);
    al.put(alert("cpu", &[("host", "a")], 0), 0);
    let s = Silence {
        id: "s9".into(),
        matchers: vec![Matcher {
            name: "alertname".into(),
            value: "cpu".into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at: 0,
        ends_at: 3600 * S,
        created_by: "bob".into(),
        comment: "deploy".into(),
        updated_at: 0,
        hid_since: None,
        reminded: Vec::new(),
    };
    al.set_silence(s, 0).unwrap();
    let sent = run(&mut al, 0, 3600 * S);
    let reminders: Vec<(&str, i64)> = sent
        .iter()
        .flat_map(|n| n.alerts.iter().map(move |a| (a.name(), n.ts)))
        .filter(|(name, _)| name.starts_with("Silence"))
        .collect();
    assert!(
        reminders
            .iter()
            .any(|(n, t)| *n == "SilenceForgotten" && *t <= 100 * S),
        "{reminders:?}"
    );
    assert!(
        reminders
            .iter()
            .any(|(n, t)| *n == "SilenceEnding" && (3000 * S..=3040 * S).contains(t)),
        "{reminders:?}"
    );
    assert!(
        !sent.iter().flat_map(names).any(|n| n.starts_with("cpu")),
        "the silenced alert stays hidden"
    );
}

#[test]
fn state_round_trips_and_nothing_is_sent_twice_after_a_restart() {
    let mut al = Alerting::new(Arc::new(routing()), Settings::default());
    al.put(alert("cpu", &[("host", "a")], 0), 0);
    assert_eq!(run(&mut al, 0, 30 * S).len(), 1);
    let json = serde_json::to_string(al.state()).unwrap();
    let mut again = Alerting::new(Arc::new(routing()), Settings::default());
    again.restore(serde_json::from_str(&json).unwrap(), 31 * S);
    assert!(run(&mut again, 31 * S, 600 * S).is_empty());
    assert_eq!(
        run(&mut again, 601 * S, 3630 * S).len(),
        1,
        "the repeat still comes"
    );
}

#[test]
fn a_flapping_alert_is_held_until_it_settles() {
    let mut al = Alerting::new(Arc::new(routing()), Settings::default());
    let mut a = alert("cpu", &[("host", "a")], 0);
    a.flapping = true;
    al.put(a.clone(), 0);
    assert!(run(&mut al, 0, 100 * S).is_empty(), "held while flapping");
    a.flapping = false;
    a.updated_at = 101 * S;
    al.put(a, 101 * S);
    let sent = run(&mut al, 101 * S, 400 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(names(&sent[0]), ["cpu{host=a} firing"]);
}

/// `inhibit A unless B`: an info alert goes out only beside a warning with the same
/// `namespace`; one without is suppressed, with no inhibiting alert to name.
#[test]
fn unless_inhibitions_mute_until_their_companion_fires() {
    let mut r = routing();
    r.inhibits = vec![InhibitPlan {
        target: eq("severity", "info"),
        source: eq("severity", "warning"),
        equal: vec!["namespace".into()],
        unless: true,
    }];
    let mut al = Alerting::new(Arc::new(r), Settings::default());
    al.put(
        alert("restarts", &[("namespace", "a"), ("severity", "info")], 0),
        0,
    );
    al.put(
        alert("crash", &[("namespace", "a"), ("severity", "warning")], 0),
        0,
    );
    al.put(
        alert("restarts", &[("namespace", "b"), ("severity", "info")], 0),
        0,
    );
    // (`names` shows `host` only: one `restarts` is sent, namespace a's.)
    let sent = run(&mut al, 0, 30 * S);
    let mut all: Vec<String> = sent.iter().flat_map(names).collect();
    all.sort();
    assert_eq!(all, ["crash{host=} firing", "restarts{host=} firing"]);
    let views = al.alerts(30 * S);
    let b = views
        .iter()
        .find(|v| v.alert.labels.get("namespace").map(String::as_str) == Some("b"))
        .unwrap();
    assert_eq!(b.state, "suppressed");
    assert!(b.inhibited_by.is_empty());

    // Its companion arrives: the info alert of `b` is sent at the next flush.
    al.put(
        alert(
            "crash",
            &[("namespace", "b"), ("severity", "warning")],
            40 * S,
        ),
        40 * S,
    );
    let sent = run(&mut al, 31 * S, 400 * S);
    let all: Vec<String> = sent.iter().flat_map(names).collect();
    assert!(
        all.contains(&"restarts{host=} firing".to_string()),
        "{all:?}"
    );
    let views = al.alerts(400 * S);
    assert!(views.iter().all(|v| v.state == "active"), "{views:?}");
}
