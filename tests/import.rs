//! `vigil import`: the public rule corpora (`../shared/corpora`) translate, what is written
//! passes `vigil check`, every source rule is accounted for, and the share imported fully is
//! pinned (it may only rise).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A corpus folder, or `None` (with a note) outside CI when `../shared` is not beside us.
fn corpus(rel: &str) -> Option<PathBuf> {
    let p = root().join("../shared/corpora").join(rel);
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: CI runs with ../shared beside the clone",
            p.display()
        );
    }
    eprintln!("note: {} is not here; skipping", p.display());
    None
}

fn vigil(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("vigil runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| keep(&std::fs::read_to_string(p).unwrap_or_default()))
        .map(|p| p.display().to_string())
        .collect();
    out.sort();
    out
}

/// Imports `inputs` into a scratch folder, checks it, and returns the JSON report.
fn import_and_check(kind: &str, inputs: &[String]) -> Value {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let mut args = vec!["import", kind, "--out", dir, "--format", "json"];
    args.extend(inputs.iter().map(String::as_str));
    let (code, stdout, stderr) = vigil(&args);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    let (code, _, stderr) = vigil(&["check", dir]);
    assert_eq!(code, 0, "the imported rules do not check:\n{stderr}");
    for f in report["files"].as_array().unwrap() {
        let text = std::fs::read_to_string(
            out.path()
                .join(format!("{}.rules", f["package"].as_str().unwrap())),
        )
        .unwrap();
        // Every item is in the file: translated, or kept with its reason.
        for it in f["items"].as_array().unwrap() {
            if it["status"] == "not_translated" {
                let name = it["name"].as_str().unwrap();
                assert!(
                    text.contains(&format!("({name})\n")),
                    "{name} is not kept in {}",
                    f["source"]
                );
            }
        }
    }
    report
}

fn share(report: &Value) -> (f64, u64) {
    let s = &report["summary"];
    let n = |k: &str| s[k].as_u64().unwrap();
    let total = n("imported") + n("partly") + n("not_translated");
    (n("imported") as f64 / total as f64, total)
}

#[test]
fn kube_prometheus_rules_import_and_check() {
    let Some(dir) = corpus("kube-prometheus/manifests") else {
        return;
    };
    let inputs = files(&dir, |t| t.contains("kind: PrometheusRule"));
    assert_eq!(inputs.len(), 8);
    let report = import_and_check("prometheus", &inputs);
    let (fully, total) = share(&report);
    eprintln!(
        "kube-prometheus: {:.1}% of {total} rules imported fully",
        fully * 100.0
    );
    // 139 alerting and 95 recording rules, each accounted for.
    assert_eq!(total, 234);
    assert!(fully >= 0.98, "the share fell to {fully}");
}

#[test]
fn promtool_testdata_rule_files_import_and_check() {
    let Some(dir) = corpus("promtool/cmd/promtool/testdata") else {
        return;
    };
    let inputs = files(&dir, |t| t.lines().any(|l| l.trim_end() == "groups:"));
    assert!(inputs.len() >= 10, "{inputs:?}");
    let report = import_and_check("prometheus", &inputs);
    // `rules_large.yml` (10,000 copies of a labelled `vector(1)` record) would drown the rest.
    let (mut fully, mut total) = (0, 0);
    for f in report["files"].as_array().unwrap() {
        if f["source"].as_str().unwrap().ends_with("rules_large.yml") {
            continue;
        }
        for it in f["items"].as_array().unwrap() {
            total += 1;
            fully += usize::from(it["status"] == "imported");
        }
    }
    let share = fully as f64 / total as f64;
    eprintln!(
        "promtool testdata (without rules_large.yml): {:.1}% of {total} rules imported fully",
        share * 100.0
    );
    assert!(share >= 0.25, "the share fell to {share}");
}

#[test]
fn one_input_goes_to_stdout_with_a_summary_and_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        r#"groups:
  - name: api
    rules:
      - alert: ApiDown
        expr: up{job="api"} == 0
        for: 5m
        labels: { severity: critical, team: web }
        annotations:
          summary: "{{ $labels.instance }} is down"
          runbook_url: https://runbooks.example/api
      - record: job:errors:rate5m
        expr: sum by (job) (rate(errors_total[5m]))
"#,
    )
    .unwrap();
    let (code, out, err) = vigil(&["import", "prometheus", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("imported 2, partly 0, not translated 0"),
        "{err}"
    );
    assert!(out.contains("package good"), "{out}");
    assert!(out.contains("when up{job=\"api\"} == 0 for 5m"), "{out}");
    assert!(out.contains("severity critical"), "{out}");
    assert!(
        out.contains("annotations { runbook_url = \"https://runbooks.example/api\" }"),
        "{out}"
    );
    assert!(out.contains("no_data after 0s -> ok"), "{out}");
    assert!(
        out.contains("record job:errors:rate5m = sum(rate(errors_total, 5m)) by [job]"),
        "{out}"
    );

    let partial = dir.path().join("partial.yml");
    std::fs::write(
        &partial,
        "groups:\n  - name: g\n    rules:\n      - alert: Top\n        expr: x % 3 > 1\n",
    )
    .unwrap();
    let (code, out, err) = vigil(&["import", "prometheus", partial.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("imported 0, partly 0, not translated 1"),
        "{err}"
    );
    assert!(
        out.contains("# vigil import: not translated: the operator `%`"),
        "{out}"
    );
    assert!(out.contains("#   expr: x % 3 > 1"), "{out}");

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "groups: [\n").unwrap();
    let (code, _, err) = vigil(&["import", "prometheus", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.yml: not YAML"), "{err}");

    let (code, _, err) = vigil(&[
        "import",
        "prometheus",
        good.to_str().unwrap(),
        partial.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("need --out"), "{err}");
}

/// A kube-prometheus manifest's groups as a plain Prometheus rule file (promtool reads those).
fn rule_file_of(manifest: &Path) -> String {
    let v: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    serde_norway::to_string(&v["spec"]).unwrap()
}

/// Real kube-prometheus alerts (read from the corpus), series written for them, and the
/// alerts promtool expects: promtool must pass the test as written, and the same test
/// imported into Vigil must pass `vigil test` against the same rules imported.
#[test]
fn imported_rules_and_tests_agree_with_promtool() {
    let Some(promtool) = common_peer() else {
        return;
    };
    let Some(dir) = corpus("kube-prometheus/manifests") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cases = [
        (
            "nodeExporter-prometheusRule.yaml",
            "node",
            r#"
  - interval: 1m
    input_series:
      - series: 'node_filesystem_avail_bytes{job="node-exporter",fstype="ext4",mountpoint="/",instance="n1",device="sda1"}'
        values: '4+0x80'
      - series: 'node_filesystem_size_bytes{job="node-exporter",fstype="ext4",mountpoint="/",instance="n1",device="sda1"}'
        values: '100+0x80'
      - series: 'node_filesystem_readonly{job="node-exporter",fstype="ext4",mountpoint="/",instance="n1",device="sda1"}'
        values: '0+0x80'
      - series: 'node_network_receive_errs_total{job="node-exporter",device="eth0",instance="n1"}'
        values: '0+10x80'
      - series: 'node_network_receive_packets_total{job="node-exporter",device="eth0",instance="n1"}'
        values: '0+100x80'
      - series: 'node_timex_sync_status{job="node-exporter",instance="n1"}'
        values: '0+0x80'
      - series: 'node_timex_maxerror_seconds{job="node-exporter",instance="n1"}'
        values: '16+0x80'
    alert_rule_test:
      - eval_time: 20m
        alertname: NodeFilesystemAlmostOutOfSpace
        exp_alerts: []
      - eval_time: 40m
        alertname: NodeFilesystemAlmostOutOfSpace
        exp_alerts:
          - exp_labels: {severity: warning, job: node-exporter, fstype: ext4, mountpoint: /, instance: n1, device: sda1}
            exp_annotations:
              description: Filesystem on sda1, mounted on /, at n1 has only 4.00% available space left.
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemalmostoutofspace
              summary: Filesystem has less than 5% space left.
      - eval_time: 50m
        alertname: NodeNetworkReceiveErrs
        exp_alerts: []
      - eval_time: 70m
        alertname: NodeNetworkReceiveErrs
        exp_alerts:
          - exp_labels: {severity: warning, job: node-exporter, device: eth0, instance: n1}
            exp_annotations:
              description: n1 interface eth0 has encountered 0 receive errors in the last two minutes.
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/node/nodenetworkreceiveerrs
              summary: Network interface is reporting many receive errors.
      - eval_time: 5m
        alertname: NodeClockNotSynchronising
        exp_alerts: []
      - eval_time: 15m
        alertname: NodeClockNotSynchronising
        exp_alerts:
          - exp_labels: {severity: warning, job: node-exporter, instance: n1}
            exp_annotations:
              description: Clock at n1 is not synchronising. Ensure NTP is configured on this host.
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/node/nodeclocknotsynchronising
              summary: Clock not synchronising.
"#,
        ),
        (
            "alertmanager-prometheusRule.yaml",
            "am",
            r#"
  - interval: 1m
    input_series:
      - series: 'alertmanager_config_last_reload_successful{job="alertmanager-main",container="alertmanager",namespace="monitoring",pod="am-0"}'
        values: '1 1 1 0+0x30'
    alert_rule_test:
      - eval_time: 12m
        alertname: AlertmanagerFailedReload
        exp_alerts: []
      - eval_time: 25m
        alertname: AlertmanagerFailedReload
        exp_alerts:
          - exp_labels: {severity: critical, job: alertmanager-main, container: alertmanager, namespace: monitoring, pod: am-0}
            exp_annotations:
              description: Configuration has failed to load for monitoring/am-0.
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/alertmanager/alertmanagerfailedreload
              summary: Reloading an Alertmanager configuration has failed.
"#,
        ),
        (
            "kubernetesControlPlane-prometheusRule.yaml",
            "k8s",
            r#"
  - interval: 1m
    input_series:
      - series: 'kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",job="kube-state-metrics",namespace="ns",pod="p",container="c"}'
        values: '1+0x90'
      - series: 'kube_pod_container_status_waiting_reason{reason="ImagePullBackOff",job="kube-state-metrics",namespace="ns",pod="q",container="c"}'
        values: '1+0x90'
    alert_rule_test:
      - eval_time: 10m
        alertname: KubePodCrashLooping
        exp_alerts: []
      - eval_time: 20m
        alertname: KubePodCrashLooping
        exp_alerts:
          - exp_labels: {severity: warning, reason: CrashLoopBackOff, job: kube-state-metrics, namespace: ns, pod: p, container: c}
            exp_annotations:
              description: 'Pod ns/p (c) is in waiting state (reason: "CrashLoopBackOff") on cluster .'
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping
              summary: Pod is crash looping.
      - eval_time: 50m
        alertname: KubeContainerWaiting
        exp_alerts: []
      - eval_time: 80m
        alertname: KubeContainerWaiting
        exp_alerts:
          - exp_labels: {severity: warning, reason: ImagePullBackOff, job: kube-state-metrics, namespace: ns, pod: q, container: c}
            exp_annotations:
              description: 'pod/q in namespace ns on container c has been in waiting state for longer than 1 hour. (reason: "ImagePullBackOff") on cluster .'
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubecontainerwaiting
              summary: Pod container waiting longer than 1 hour
"#,
        ),
    ];
    let out = work.path().join("out");
    for (manifest, stem, tests) in cases {
        let rules = work.path().join(format!("{stem}.yml"));
        std::fs::write(&rules, rule_file_of(&dir.join(manifest))).unwrap();
        let test = work.path().join(format!("{stem}_test.yml"));
        std::fs::write(
            &test,
            format!("rule_files:\n  - {stem}.yml\nevaluation_interval: 1m\ntests:{tests}"),
        )
        .unwrap();
        let p = Command::new(&promtool)
            .args(["test", "rules"])
            .arg(&test)
            .output()
            .unwrap();
        assert!(
            p.status.success(),
            "promtool does not pass {stem}: {}{}",
            String::from_utf8_lossy(&p.stdout),
            String::from_utf8_lossy(&p.stderr)
        );
        let o = out.to_str().unwrap();
        let (_, _, err) = vigil(&["import", "prometheus", rules.to_str().unwrap(), "--out", o]);
        assert!(err.contains("imported"), "{err}");
        let (code, _, err) = vigil(&[
            "import",
            "promtool-tests",
            test.to_str().unwrap(),
            "--out",
            o,
        ]);
        assert!(err.contains("not translated 0"), "{stem}: {err}");
        assert!(code == 0 || code == 1, "{err}");
    }
    let (code, stdout, stderr) = vigil(&["test", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
}

/// PromQL's set operators on values and filtering comparisons (`or vector(0)`, `unless`, `and
/// on`, `x - (y > 0)`, `a > b`, `x > 0.9 < 1`), `absent` of a filtered series, `histogram_quantile` over any buckets and
/// `ALERTS{..}` (Vigil reads the previous evaluation's alerts: compared once settled), as
/// kube-prometheus writes them: promtool passes the test as written, and the imported rules
/// pass the imported test.
#[test]
fn value_filters_agree_with_promtool() {
    let Some(promtool) = common_peer() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("filters.yml");
    std::fs::write(
        &rules,
        r#"groups:
  - name: filters
    rules:
      - record: errors_or_zero
        expr: sum(errs) or vector(0)
      - alert: NoErrors
        expr: errors_or_zero == 0
      - alert: NotReady
        expr: (up unless ready) == 1
      - alert: Either
        expr: (up or ready) > 5
      - alert: Spare
        expr: ready - (up > 0) > 3
      - alert: Compared
        expr: (ready > up) == 7
      - alert: Band
        expr: ratio > 0.9 < 1
      - alert: MatchedOn
        expr: (load and on(host) up) > 10
      - alert: Noisy
        expr: restarts > 3
        labels: {severity: info}
      - alert: Crash
        expr: crashes > 0
        labels: {severity: warning}
      - alert: InfoAlone
        expr: group by (namespace) (ALERTS{severity="info"} == 1) unless on (namespace) group by (namespace) (ALERTS{alertname!="InfoAlone", alertstate="firing", severity=~"warning|critical"} == 1)
      - alert: HostCDown
        expr: absent(up{host="c"} == 1)
      - alert: HostADown
        expr: absent(up{host="a"} == 1)
      - alert: SlowP90
        expr: histogram_quantile(0.9, max by (le) (rate(lat_bucket[5m]))) > 0.4
      - alert: SlowerP90
        expr: histogram_quantile(0.9, max by (le) (rate(lat_bucket[5m]))) > 0.45
      - alert: FailedShare
        expr: |
          (rate(failed_total[5m]) or rate(failed_old_total[5m]))
          /
          ((rate(failed_total[5m]) or rate(failed_old_total[5m])) + rate(sent_total[5m]))
          * 100 > 1
"#,
    )
    .unwrap();
    let test = work.path().join("filters_test.yml");
    std::fs::write(
        &test,
        r#"rule_files:
  - filters.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{host="a"}'
        values: '1x10'
      - series: 'up{host="b"}'
        values: '1x10'
      - series: 'up{host="c"}'
        values: '0x10'
      - series: 'ready{host="a"}'
        values: '5x10'
      - series: 'ready{host="c"}'
        values: '7x10'
      - series: 'ready{host="d"}'
        values: '9x10'
      - series: 'ratio{host="a"}'
        values: '0.95x10'
      - series: 'ratio{host="b"}'
        values: '1x10'
      - series: 'load{host="a",core="0"}'
        values: '11x10'
      - series: 'load{host="e",core="0"}'
        values: '50x10'
      - series: 'errs{job="api"}'
        values: '_ _ _ _ _ _ _ 3x3'
      - series: 'failed_total{job="j"}'
        values: '0+10x10'
      - series: 'sent_total{job="j"}'
        values: '0+90x10'
      - series: 'restarts{namespace="a"}'
        values: '5x10'
      - series: 'restarts{namespace="b"}'
        values: '5x10'
      - series: 'crashes{namespace="a"}'
        values: '1x10'
      - series: 'lat_bucket{le="0.1"}'
        values: '0+10x10'
      - series: 'lat_bucket{le="0.5"}'
        values: '0+20x10'
      - series: 'lat_bucket{le="+Inf"}'
        values: '0+20x10'
    alert_rule_test:
      - eval_time: 1m
        alertname: NoErrors
        exp_alerts:
          - exp_labels: {}
      - eval_time: 8m
        alertname: NoErrors
        exp_alerts: []
      - eval_time: 1m
        alertname: NotReady
        exp_alerts:
          - exp_labels: {host: b}
      - eval_time: 1m
        alertname: Either
        exp_alerts:
          - exp_labels: {host: d}
      - eval_time: 1m
        alertname: Spare
        exp_alerts:
          - exp_labels: {host: a}
      - eval_time: 1m
        alertname: Compared
        exp_alerts:
          - exp_labels: {host: c}
      - eval_time: 1m
        alertname: Band
        exp_alerts:
          - exp_labels: {host: a}
      - eval_time: 1m
        alertname: MatchedOn
        exp_alerts:
          - exp_labels: {host: a, core: "0"}
      - eval_time: 5m
        alertname: InfoAlone
        exp_alerts:
          - exp_labels: {namespace: b}
      - eval_time: 1m
        alertname: HostCDown
        exp_alerts:
          - exp_labels: {}
      - eval_time: 1m
        alertname: HostADown
        exp_alerts: []
      - eval_time: 6m
        alertname: SlowP90
        exp_alerts:
          - exp_labels: {}
      - eval_time: 6m
        alertname: SlowerP90
        exp_alerts: []
      - eval_time: 6m
        alertname: FailedShare
        exp_alerts:
          - exp_labels: {job: j}
"#,
    )
    .unwrap();
    promtool_and_vigil_pass(&promtool, &rules, &test, &work.path().join("out"));
}

/// `promtool test rules` passes `test` (which names `rules`) as written; then the rules and the
/// test imported into `out` (every rule fully, every test group translated) pass `vigil test`.
fn promtool_and_vigil_pass(promtool: &str, rules: &Path, test: &Path, out: &Path) {
    let p = Command::new(promtool)
        .args(["test", "rules"])
        .arg(test)
        .output()
        .unwrap();
    assert!(
        p.status.success(),
        "promtool does not pass {}: {}{}",
        test.display(),
        String::from_utf8_lossy(&p.stdout),
        String::from_utf8_lossy(&p.stderr)
    );
    let o = out.to_str().unwrap();
    let (code, _, err) = vigil(&["import", "prometheus", rules.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 0, "every rule imports fully: {err}");
    let (code, _, err) = vigil(&[
        "import",
        "promtool-tests",
        test.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert!(err.contains("not translated 0"), "{err}");
    assert!(code == 0 || code == 1, "{err}");
    let (code, stdout, stderr) = vigil(&["test", o]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}

/// The input lines `vigil eval` reports a match for (1-based).
/// `vigil eval` of `rules` over `input` on `engine`: its output and errors.
fn eval(rules: &Path, input: &Path, engine: &str) -> (String, String) {
    let (_, stdout, stderr) = vigil(&[
        "eval",
        "--engine",
        engine,
        "--rules",
        rules.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    (stdout, stderr)
}

fn matched_lines(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["line"].as_u64())
        .collect()
}

fn common_peer() -> Option<String> {
    if Command::new("promtool").arg("--version").output().is_ok() {
        return Some("promtool".into());
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("promtool is missing; .ci/run installs Debian's `prometheus` package");
    }
    eprintln!("note: promtool is not installed; skipping");
    None
}

/// A receiver's name as the importer spells it (`team-X-pager` is `team_X_pager`).
fn ident(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `vigil routes test`'s notifiers as receivers: `r__email1, r__pagerduty2` (one receiver with
/// two integrations) is `r`.
fn receivers_of(notifiers: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for n in notifiers
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let r = n.split("__").next().unwrap();
        if out.last() != Some(&r) || !n.contains("__") {
            out.push(r);
        }
    }
    out.join(",")
}

/// Alertmanager's own configuration examples import and check, and the imported route tree
/// sends generated label sets to the same receivers, in the same order, as
/// `amtool config routes test` does with the original.
#[test]
fn alertmanager_configurations_import_check_and_route_like_amtool() {
    let Some(dir) = corpus("alertmanager") else {
        return;
    };
    let good: Vec<String> = [
        "config/testdata/conf.good.yml",
        "config/testdata/conf.http-config.good.yml",
        "cli/testdata/conf.good.yml",
        "cli/testdata/conf.routing.yml",
        "doc/examples/simple.yml",
    ]
    .iter()
    .map(|p| dir.join(p).display().to_string())
    .collect();
    let report = import_and_check("alertmanager", &good);
    let (fully, total) = share(&report);
    eprintln!(
        "alertmanager: {:.1}% of {total} items imported fully",
        fully * 100.0
    );
    assert!(
        !report.to_string().contains("mysecret"),
        "a secret was copied into the report"
    );
    let Some(amtool) = Command::new("amtool")
        .arg("--version")
        .output()
        .ok()
        .map(|_| "amtool")
        .or_else(|| {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "amtool is missing; .ci/run installs Debian's `prometheus-alertmanager`"
            );
            None
        })
    else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let values: [(&str, &[&str]); 6] = [
        ("service", &["foo1", "baz", "files", "database", "other"]),
        ("severity", &["critical", "warning"]),
        ("owner", &["team-X", "team-Y", "nobody"]),
        ("owner2", &["team-X"]),
        ("test", &["1", "2", "3"]),
        ("cluster", &["a"]),
    ];
    let mut compared = 0;
    let mut distinct = std::collections::HashSet::new();
    for (i, cfg) in good.iter().enumerate() {
        let (code, rules, err) = vigil(&["import", "alertmanager", cfg]);
        assert!(code <= 1, "{err}");
        assert!(!rules.contains("mysecret"), "a secret was copied:\n{rules}");
        let text = std::fs::read_to_string(cfg).unwrap();
        // amtool refuses a configuration whose secrets are files it cannot read; the tree is
        // what is compared, so those are skipped.
        if text.contains("_file:") {
            continue;
        }
        // One folder each: two inputs named `conf.good.yml` are one package.
        let sub = out.path().join(format!("c{i}"));
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("am.rules");
        std::fs::write(&path, rules).unwrap();
        // Alertmanager 0.25 predates `tracing` (newer examples have it): amtool reads a copy
        // without it.
        let mut for_amtool = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if !line.starts_with([' ', '#']) && !line.is_empty() {
                skipping = line.starts_with("tracing:");
            }
            if !skipping {
                for_amtool.push_str(line);
                for_amtool.push('\n');
            }
        }
        let am_cfg = sub.join("am.yml");
        std::fs::write(&am_cfg, for_amtool).unwrap();
        let cfg = am_cfg.display().to_string();
        let mut seed = 7u64 + i as u64;
        for _ in 0..30 {
            let mut labels = vec!["alertname=A".to_string()];
            for (k, vs) in values {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (seed >> 33) as usize % (vs.len() + 1);
                if pick < vs.len() {
                    labels.push(format!("{k}={}", vs[pick]));
                }
            }
            let am = Command::new(amtool)
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={cfg}"))
                .args(&labels)
                .output()
                .unwrap();
            assert!(
                am.status.success(),
                "{}",
                String::from_utf8_lossy(&am.stderr)
            );
            let want: Vec<String> = String::from_utf8_lossy(&am.stdout)
                .trim()
                .split(',')
                .map(ident)
                .collect();
            let (code, got, err) = vigil(
                &["routes", "test", "--rules", path.to_str().unwrap()]
                    .into_iter()
                    .chain(labels.iter().map(String::as_str))
                    .collect::<Vec<_>>(),
            );
            assert_eq!(code, 0, "{err}");
            assert_eq!(
                receivers_of(got.trim()),
                want.join(","),
                "{cfg} with {labels:?}"
            );
            distinct.insert(want.join(","));
            compared += 1;
        }
    }
    assert!(
        compared >= 90 && distinct.len() >= 6,
        "{compared} {distinct:?}"
    );
}

/// Falco's three rule files, loaded together as Falco loads them: every rule, macro and list
/// is accounted for, the output checks, and the imported rules match a shell in a container
/// (Falco's "Terminal shell in container") and not a web server's own process.
#[test]
fn falco_rules_import_check_and_match_events() {
    let Some(dir) = corpus("falco/rules") else {
        return;
    };
    let inputs: Vec<String> = [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ]
    .iter()
    .map(|f| dir.join(f).display().to_string())
    .collect();
    let report = import_and_check("falco", &inputs);
    let (mut rules, mut fully) = (0, 0);
    for f in report["files"].as_array().unwrap() {
        for it in f["items"].as_array().unwrap() {
            if it["name"].as_str().unwrap().starts_with("rule ") {
                rules += 1;
                fully += usize::from(it["status"] == "imported");
            }
        }
    }
    let share = fully as f64 / rules as f64;
    eprintln!(
        "falco: {:.1}% of {rules} rules imported fully",
        share * 100.0
    );
    assert_eq!(rules, 93);
    assert!(share >= 0.97, "the share fell to {share}");

    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let mut args = vec!["import", "falco", "--out", o];
    args.extend(inputs.iter().map(String::as_str));
    vigil(&args);
    let events = out.path().join("events.jsonl");
    std::fs::write(
        &events,
        concat!(
            r#"{"ts": 1000, "type": "execve", "evt": {"dir": "<"}, "container": {"id": "abc123", "name": "web"}, "proc": {"name": "bash", "tty": 34816, "pname": "runc", "cmdline": "bash", "aname": ["bash", "runc"]}, "user": {"name": "root", "uid": 0}}"#,
            "\n",
            r#"{"ts": 2000, "type": "execve", "evt": {"dir": "<"}, "container": {"id": "abc123"}, "proc": {"name": "nginx", "tty": 0, "pname": "runc"}, "user": {"name": "www", "uid": 33}}"#,
            "\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) =
        vigil(&["eval", "--rules", o, "--input", events.to_str().unwrap()]);
    assert!(code <= 1, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [r#"{"line":1,"rules":["falco_rules.Terminal_shell_in_container"]}"#],
        "{stderr}"
    );
}

/// `--mapping` renames Falco's fields to the events' own: `proc.name` read as `process.name`.
#[test]
fn a_falco_field_mapping_renames_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("mine.yaml");
    std::fs::write(
        &rules,
        "- list: shells\n  items: [bash, sh]\n- rule: Shell spawned\n  desc: a shell\n  condition: evt.type = execve and proc.name in (shells)\n  output: shell %proc.name by %user.name\n  priority: WARNING\n",
    )
    .unwrap();
    let mapping = dir.path().join("map.yaml");
    std::fs::write(
        &mapping,
        "proc.name: process.name\nuser.name: event.user.id\n",
    )
    .unwrap();
    let (code, out, err) = vigil(&[
        "import",
        "falco",
        rules.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(r#"event.type == "execve" and event.process.name in shells"#),
        "{out}"
    );
    assert!(
        out.contains(r#"summary "shell {{ event.process.name }} by {{ event.user.id }}""#),
        "{out}"
    );
    std::fs::write(&mapping, "proc.name: 'not a path!'\n").unwrap();
    let (code, _, err) = vigil(&[
        "import",
        "falco",
        rules.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not an event path"), "{err}");
}

/// Every Sigma rule of the corpus: the output checks, each rule is accounted for, and the
/// share imported fully is pinned; one imported rule then matches events as Sigma means
/// (case-insensitive values, `windash`).
#[test]
fn sigma_rules_import_check_and_match_events() {
    let Some(dir) = corpus("sigma/rules") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let (code, stdout, stderr) = vigil(&[
        "import",
        "sigma",
        dir.to_str().unwrap(),
        "--out",
        o,
        "--format",
        "json",
    ]);
    assert!(code <= 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let (fully, total) = share(&report);
    eprintln!(
        "sigma: {:.1}% of {total} rules imported fully",
        fully * 100.0
    );
    assert_eq!(total, 3141);
    assert!(fully >= 0.999, "the share fell to {fully}");
    let (code, _, stderr) = vigil(&["check", o]);
    assert_eq!(code, 0, "{stderr}");

    // Keyword rules, given the fields a keyword search reads.
    let kw = tempfile::tempdir().unwrap();
    let mapping = kw.path().join("mapping.yml");
    std::fs::write(&mapping, "keywords: [message]\n").unwrap();
    let k = kw.path().join("out");
    let (_, stdout, stderr) = vigil(&[
        "import",
        "sigma",
        dir.to_str().unwrap(),
        "--out",
        k.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let with_keywords: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    let (fully_kw, _) = share(&with_keywords);
    eprintln!(
        "sigma with keyword fields: {:.1}% imported fully",
        fully_kw * 100.0
    );
    assert!(fully_kw >= 0.999, "the share fell to {fully_kw}");
    let (code, _, stderr) = vigil(&["check", k.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");

    let events = out.path().join("events.jsonl");
    std::fs::write(
        &events,
        concat!(
            r#"{"ts":1000,"type":"process_creation","Image":"C:\\Windows\\System32\\WHOAMI.EXE","CommandLine":"whoami /ALL"}"#,
            "\n",
            r#"{"ts":2000,"type":"process_creation","Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /groups"}"#,
            "\n",
            r#"{"ts":3000,"type":"file_event","Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami -all"}"#,
            "\n"
        ),
    )
    .unwrap();
    let rule = out
        .path()
        .join("proc_creation_win_whoami_all_execution.rules");
    let (_, stdout, stderr) = vigil(&[
        "eval",
        "--rules",
        rule.to_str().unwrap(),
        "--input",
        events.to_str().unwrap(),
    ]);
    assert_eq!(
        stdout.trim(),
        r#"{"line":1,"rules":["proc_creation_win_whoami_all_execution.Enumerate_All_Information_With_Whoami_EXE"]}"#,
        "{stderr}"
    );
}

/// Imported Sigma rules match the same events as the originals, judged by the reference
/// toolchain: pySigma's SQLite backend converts each sampled rule, and events generated from
/// the rule's own values (case flips, text around them, near misses, missing fields) loaded
/// into SQLite (case-insensitive columns, as Sigma matches) must match the same events in
/// `vigil eval` of the imported rule.
#[test]
fn imported_sigma_rules_match_what_pysigma_matches() {
    let Some(dir) = corpus("sigma/rules/windows/process_creation") else {
        return;
    };
    let have = Command::new("python3")
        .args(["-c", "import sigma.backends.sqlite, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "pySigma is missing; .ci/run installs pysigma and pysigma-backend-sqlite"
        );
        eprintln!("note: pySigma is not installed; skipping");
        return;
    }
    // Every 15th rule of the folder: about 80, a spread of authors and modifiers.
    let sample: Vec<String> = files(&dir, |_| true).into_iter().step_by(15).collect();
    let oracle = Command::new("python3")
        .arg(root().join("tests/sigma_oracle.py"))
        .args(&sample)
        .output()
        .unwrap();
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let work = tempfile::tempdir().unwrap();
    let (mut compared, mut matched_some, mut events_total) = (0, 0, 0);
    for line in String::from_utf8_lossy(&oracle.stdout).lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let rule = r["rule"].as_str().unwrap();
        if r.get("skipped").is_some() {
            continue;
        }
        let (code, rules, err) = vigil(&["import", "sigma", rule]);
        if code != 0 {
            // Not imported fully (keywords, a field name to map): nothing to compare.
            assert!(err.contains("not translated"), "{rule}: {err}");
            continue;
        }
        let dir = work.path().join(format!("r{compared}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("rule.rules"), &rules).unwrap();
        let mut jsonl = String::new();
        for (i, e) in r["events"].as_array().unwrap().iter().enumerate() {
            let mut e = e.clone();
            e["type"] = "process_creation".into();
            e["ts"] = (1000 * (i as i64 + 1)).into();
            jsonl.push_str(&e.to_string());
            jsonl.push('\n');
        }
        std::fs::write(dir.join("events.jsonl"), &jsonl).unwrap();
        let (_, out, err) = vigil(&[
            "eval",
            "--rules",
            dir.join("rule.rules").to_str().unwrap(),
            "--input",
            dir.join("events.jsonl").to_str().unwrap(),
        ]);
        let got: Vec<u64> = matched_lines(&out).into_iter().map(|n| n - 1).collect();
        let want: Vec<u64> = r["matched"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(got, want, "{rule}\n{rules}\nevents:\n{jsonl}{err}");
        compared += 1;
        events_total += r["events"].as_array().unwrap().len();
        matched_some += usize::from(!want.is_empty());
    }
    eprintln!(
        "sigma vs pySigma: {compared} rules, {events_total} events, {matched_some} rules matching some"
    );
    assert!(
        compared >= 60 && matched_some >= 50,
        "{compared} {matched_some}"
    );
}

/// A site's local Falco file changes the shipped one as Falco loads them: a list appended to,
/// a macro's condition appended to, a rule given an exception and disabled; the imported
/// rules then match as the merged Falco rules would.
#[test]
fn falco_appends_overrides_and_exceptions_apply_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base_rules.yaml");
    std::fs::write(
        &base,
        r#"
- list: shell_binaries
  items: [bash, sh]
- macro: spawned_process
  condition: evt.type = execve
- macro: trusted_parent
  condition: proc.pname = systemd
- rule: Shell spawned
  desc: a shell started
  condition: spawned_process and proc.name in (shell_binaries) and not trusted_parent
  output: shell %proc.name under %proc.pname
  priority: WARNING
- rule: Noisy rule
  desc: fires on everything
  condition: spawned_process
  output: noise
  priority: INFO
"#,
    )
    .unwrap();
    let local = dir.path().join("local_rules.yaml");
    std::fs::write(
        &local,
        r#"
- list: shell_binaries
  items: [zsh]
  append: true
- macro: trusted_parent
  condition: or proc.pname = cron
  override:
    condition: append
- rule: Shell spawned
  exceptions:
    - name: known_tools
      fields: [proc.pname, proc.cmdline]
      comps: [=, startswith]
      values:
        - [ansible, "sh -c echo"]
  override:
    exceptions: append
- rule: Noisy rule
  enabled: false
"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let (code, _, err) = vigil(&[
        "import",
        "falco",
        base.to_str().unwrap(),
        local.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = vigil(&["check", o]);
    assert_eq!(code, 0, "{err}");
    let events = out.path().join("events.jsonl");
    let ev = |ts: u32, name: &str, pname: &str, cmd: &str| {
        format!(
            r#"{{"ts": {ts}, "type": "execve", "proc": {{"name": "{name}", "pname": "{pname}", "cmdline": "{cmd}"}}}}"#
        ) + "\n"
    };
    std::fs::write(
        &events,
        ev(1, "zsh", "sshd", "zsh")
            + &ev(2, "bash", "cron", "bash")
            + &ev(3, "sh", "ansible", "sh -c echo hi")
            + &ev(4, "sh", "ansible", "sh -x")
            + &ev(5, "python", "sshd", "python"),
    )
    .unwrap();
    let (_, stdout, stderr) = vigil(&["eval", "--rules", o, "--input", events.to_str().unwrap()]);
    // 1: zsh, appended to the list. 2: cron, appended to the trusted parents. 3: the
    // exception. 4: not the exception's command. 5: not a shell. The noisy rule is disabled.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            r#"{"line":1,"rules":["local_rules.Shell_spawned"]}"#,
            r#"{"line":4,"rules":["local_rules.Shell_spawned"]}"#,
        ],
        "{stderr}"
    );
}

/// Sigma correlations: every example of the specification imports and checks (the rules they
/// name are not in those files: placeholders, reported as partly); with the named rules in
/// the same file, a temporal_ordered and an event_count correlation fire as Sigma means.
#[test]
fn sigma_correlations_import_and_fire() {
    if let Some(dir) = corpus("sigma-correlations/tests/schema/correlation") {
        let inputs = files(&dir, |_| true);
        assert_eq!(inputs.len(), 8);
        let report = import_and_check("sigma", &inputs);
        let s = &report["summary"];
        assert_eq!(s["not_translated"], 0, "{report:#}");
        assert_eq!(s["partly"], 8, "{report:#}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.yml");
    std::fs::write(
        &bundle,
        r#"title: Whoami
id: aaaa-1
name: whoami_run
logsource: {category: process_creation, product: windows}
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
level: low
---
title: Net user
id: bbbb-2
logsource: {category: process_creation, product: windows}
detection:
  selection:
    CommandLine|contains: 'net user'
  condition: selection
level: low
---
title: Recon in order
correlation:
  type: temporal_ordered
  rules: [whoami_run, bbbb-2]
  group-by: [Host]
  timespan: 5m
level: high
---
title: Repeated whoami
correlation:
  type: event_count
  rules: [aaaa-1]
  group-by: [Host]
  timespan: 5m
  condition: {gte: 2}
level: medium
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = vigil(&[
        "import",
        "sigma",
        bundle.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let events = dir.path().join("ev.jsonl");
    let ev = |ts: u32, host: &str, image: &str, cmd: &str| {
        format!(
            r#"{{"ts": {ts}, "event": {{"type": "process_creation", "Host": "{host}", "Image": "C:\\Windows\\{image}", "CommandLine": "{cmd}"}}}}"#
        ) + "\n"
    };
    std::fs::write(
        &events,
        ev(0, "h1", "whoami.exe", "whoami")
            + &ev(10_000, "h2", "whoami.exe", "whoami")
            + &ev(60_000, "h1", "net.exe", "NET USER admin")
            + &ev(70_000, "h2", "cmd.exe", "dir")
            + &ev(120_000, "h1", "WHOAMI.exe", "whoami /all"),
    )
    .unwrap();
    let (code, stdout, stderr) = vigil(&[
        "replay",
        "--rules",
        out.to_str().unwrap(),
        "--input",
        events.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let fired: Vec<(i64, String, String)> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["state"] == "firing" && v["labels"]["Host"].is_string())
        .map(|v| {
            (
                v["ts"].as_i64().unwrap(),
                v["rule"].as_str().unwrap().to_string(),
                v["labels"]["Host"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        [
            (
                60_000,
                "bundle.Recon_in_order".to_string(),
                "h1".to_string()
            ),
            (
                120_000,
                "bundle.Repeated_whoami".to_string(),
                "h1".to_string()
            ),
        ],
        "{stdout}"
    );
}

/// `label_replace` and `label_join` as promtool computes them: a rule file using both, a
/// promtool test of its alerts that promtool passes, and the same imported into Vigil.
#[test]
fn relabelling_agrees_with_promtool() {
    let Some(promtool) = common_peer() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("relabel.yml"),
        r#"groups:
  - name: relabel
    rules:
      - alert: HostDown
        expr: label_replace(up, "host", "$1", "instance", "([^:]+):.*") == 0
        labels: {severity: critical}
      - alert: Pair
        expr: label_join(up{job="db"}, "pair", "/", "job", "instance") == 0
        labels: {severity: warning}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("relabel_test.yml"),
        r#"rule_files: [relabel.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="api", instance="web-1:9100"}'
        values: '0x5'
      - series: 'up{job="db", instance="db-1"}'
        values: '0x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: HostDown
        exp_alerts:
          - exp_labels: {severity: critical, job: api, instance: "web-1:9100", host: web-1}
          # db-1 has no port: the regex does not match and the series keeps its labels.
          - exp_labels: {severity: critical, job: db, instance: db-1}
      - eval_time: 2m
        alertname: Pair
        exp_alerts:
          - exp_labels: {severity: warning, job: db, instance: db-1, pair: db/db-1}
"#,
    )
    .unwrap();
    let test = dir.path().join("relabel_test.yml");
    let rules = dir.path().join("relabel.yml");
    promtool_and_vigil_pass(&promtool, &rules, &test, &dir.path().join("out"));
}

/// Malformed inputs of every kind: each bad item gets a reason that names it, nothing panics
/// or hangs, and what is written still checks.
#[test]
fn bad_items_are_reported_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str, &[&str]); 4] = [
        (
            "prometheus",
            "p.yml",
            "groups:\n  - name: g\n    rules:\n      - alert: NoExpr\n        expr: {a: 1}\n      - alert: X\n        expr: up == 0\n        for: forever\n      - record: \"bad name!\"\n        expr: up\n      - alert: Big\n        expr: up > 1e400\n",
            &[
                "NoExpr: not translated: no `expr`",
                "X: not translated: `for: forever` is not a duration",
                "the record name `bad name!`",
                "Big: not translated: the number inf",
            ],
        ),
        (
            "falco",
            "f.yaml",
            "- rule: r\n  condition: proc.name = a and\n  output: x\n  priority: WARNING\n- macro: m\n  condition: a = \"unterminated\n- list: l\n  items: 5\n- macro: m2\n  condition: x\n  append: true\n",
            &[
                "rule r: not translated: the condition ends where a test was expected",
                "macro m: not translated: an unclosed quote",
                "list l: not translated: `items` is not a list",
                "macro m2: not translated: `append`/`override` of a macro no earlier file declares",
            ],
        ),
        (
            "sigma",
            "s.yml",
            "title: t\ndetection:\n  sel:\n    A|contains|windash|base64: x\n  condition: sel\n---\ntitle: u\ndetection:\n  sel:\n    A: x\n  condition: sel and (\n",
            &[
                "two value modifiers in `A|contains|windash|base64`",
                "u: not translated: a condition that ends early",
            ],
        ),
        (
            "alertmanager",
            "a.yml",
            "route:\n  receiver: nope\nreceivers: []\n",
            &["route: not translated: the receiver `nope` is not declared"],
        ),
    ];
    for (kind, name, text, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = vigil(&["import", kind, path.to_str().unwrap()]);
        assert_eq!(code, 1, "{kind}: {err}");
        for w in want {
            assert!(err.contains(w), "{kind}: `{w}` not in\n{err}");
        }
        let checked = dir.path().join(format!("{kind}_out.rules"));
        std::fs::write(&checked, out).unwrap();
        let (code, _, err) = vigil(&["check", checked.to_str().unwrap()]);
        assert_eq!(code, 0, "{kind}: {err}");
        std::fs::remove_file(&checked).unwrap();
    }
}

/// Sigma keywords search every string of the event (`event.*`), or the fields the mapping
/// names, ignoring case, as Sigma's do.
#[test]
fn sigma_keywords_search_the_mapped_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("kw.yml");
    std::fs::write(
        &rule,
        "title: Mimikatz keywords\nlogsource: {product: windows, service: security}\ndetection:\n  keywords:\n    - 'sekurlsa::logonpasswords'\n    - 'mimi*katz'\n  condition: keywords\n",
    )
    .unwrap();
    // Without keyword fields: any string anywhere in the event (nested, in arrays); keys and
    // other fields' names are not searched.
    let (code, rules, err) = vigil(&["import", "sigma", rule.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(rules.contains("any kw in event.* where"), "{rules}");
    std::fs::create_dir(dir.path().join("anywhere")).unwrap();
    let anywhere = dir.path().join("anywhere/kw.rules");
    std::fs::write(&anywhere, rules).unwrap();
    let all = dir.path().join("all.jsonl");
    std::fs::write(
        &all,
        concat!(
            r#"{"ts": 1, "type": "security", "message": "ran SEKURLSA::LogonPasswords"}"#,
            "\n",
            r#"{"ts": 2, "type": "security", "cmd": "C:\\t\\MIMI-x-KATZ.exe"}"#,
            "\n",
            r#"{"ts": 3, "type": "security", "message": "nothing here"}"#,
            "\n",
            r#"{"ts": 4, "type": "security", "a": {"b": ["x", "sekurlsa::logonpasswords"]}}"#,
            "\n",
            r#"{"ts": 5, "type": "security", "sekurlsa::logonpasswords": 1}"#,
            "\n"
        ),
    )
    .unwrap();
    for engine in ["jit", "interp"] {
        let (stdout, stderr) = eval(&anywhere, &all, engine);
        assert_eq!(
            matched_lines(&stdout),
            [1, 2, 4],
            "{engine}: {stdout}{stderr}"
        );
    }
    let mapping = dir.path().join("m.yml");
    std::fs::write(
        &mapping,
        "logsources:\n  windows/security:\n    condition: event.channel == \"Security\"\n    keywords: [message, cmd]\n",
    )
    .unwrap();
    let (code, rules, err) = vigil(&[
        "import",
        "sigma",
        rule.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let r = dir.path().join("kw.rules");
    std::fs::write(&r, rules).unwrap();
    let events = dir.path().join("e.jsonl");
    std::fs::write(
        &events,
        concat!(
            r#"{"ts": 1, "channel": "Security", "message": "ran SEKURLSA::LogonPasswords"}"#,
            "\n",
            r#"{"ts": 2, "channel": "Security", "cmd": "C:\\t\\MIMI-x-KATZ.exe"}"#,
            "\n",
            r#"{"ts": 3, "channel": "Security", "message": "nothing here"}"#,
            "\n",
            r#"{"ts": 4, "channel": "System", "message": "sekurlsa::logonpasswords"}"#,
            "\n"
        ),
    )
    .unwrap();
    let (stdout, stderr) = eval(&r, &events, "jit");
    assert_eq!(matched_lines(&stdout), [1, 2], "{stdout}{stderr}");
}
