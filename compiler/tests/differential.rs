//! Differential property tests: random well-typed rules over random events, and random numeric
//! IR over random floats, give identical results in the interpreter and the JIT.
//!
//! `PROPTEST_CASES` raises the case count (the default here is 10,000 per property).

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use vigil_compiler::eval::{Engine, Frame, RuleSet, Scratch, SlotVal};
use vigil_compiler::ir::{Arith, Ir, Kind, Math, Node, NodeId, Program, Role, SlotRef, SlotSource};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

// ------------------------------------------------------------ rules from source

fn num_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("event.a".to_string()),
        Just("event.b".to_string()),
        Just("event.a".to_string()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("0.5".to_string()),
        Just("1e308".to_string()),
        Just("3".to_string()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/"])
            )
                .prop_map(|(a, b, op)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("abs({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            inner.clone().prop_map(|a| format!("ln({a})")),
            inner.clone().prop_map(|a| format!("round({a}, 0.5)")),
            inner.clone().prop_map(|a| format!("clamp({a}, 0, 10)")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("min({a}, {b})")),
        ]
    })
}

fn bool_leaf() -> impl Strategy<Value = String> {
    let cmp = prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]);
    prop_oneof![
        (num_expr(), cmp.clone(), num_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        Just(r#"event.s == "k""#.to_string()),
        Just(r#"event.s != "k""#.to_string()),
        Just(r#"event.s in ["k", "q", "ü"]"#.to_string()),
        Just(r#"event.s not in ["k", "q"]"#.to_string()),
        Just(r#"event.s in nocase ["K", "Ü"]"#.to_string()),
        Just(r#"event.s contains "k""#.to_string()),
        Just(r#"event.s not contains "k""#.to_string()),
        Just(r#"event.s not in nocase ["K"]"#.to_string()),
        Just(r#"event.s not matches /^k/"#.to_string()),
        Just(r#"event.arr not contains "k""#.to_string()),
        Just(r#"event.s contains any ["k", "q"]"#.to_string()),
        Just(r#"event.s contains all ["k", "q"]"#.to_string()),
        Just(r#"event.s startswith any ["k", "1"]"#.to_string()),
        Just(r#"event.s endswith nocase "K""#.to_string()),
        Just(r#"event.s matches /k.$/"#.to_string()),
        Just(r#"event.s glob "*k?""#.to_string()),
        Just(r#"event.s under ["/k"]"#.to_string()),
        Just(r#"event.s in cidr ["10.0.0.0/8", "::1/128"]"#.to_string()),
        Just(r#"event.s not in cidr ["10.0.0.0/8"]"#.to_string()),
        Just("event.flag".to_string()),
        Just("event.flag == true".to_string()),
        Just("event.flag != event.other".to_string()),
        Just("exists event.a".to_string()),
        (cmp.clone()).prop_map(|op| format!("event.a {op} event.b")),
        (cmp).prop_map(|op| format!("event.s {op} event.t")),
        Just("event.a in [0, 1, 3]".to_string()),
        Just("event.a not in [0.5]".to_string()),
        Just("any x in event.arr where x > 1".to_string()),
        Just("all x in event.arr where x != \"k\"".to_string()),
        Just("any o in event.objs where o.s == event.s".to_string()),
        Just("any o in event.objs where any y in o.arr where y == event.a".to_string()),
        Just(r#"event.arr contains "k""#.to_string()),
        Just(r#"event.arr[0] == "k""#.to_string()),
        Just("event.s in event.arr".to_string()),
        // Array membership the index can key on (ECS's `"process" in event.event.category`).
        Just(r#""k" in event.arr"#.to_string()),
        Just(r#""q" in event.arr"#.to_string()),
        Just(r#"("ü" in event.arr and event.s != "k")"#.to_string()),
    ]
}

fn bool_expr() -> impl Strategy<Value = String> {
    bool_leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("not ({a})")),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("({})", v.join(" and "))),
            prop::collection::vec(inner, 2..4).prop_map(|v| format!("({})", v.join(" or "))),
        ]
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(0)),
        Just(json!(-0.0)),
        Just(json!(1)),
        Just(json!(3)),
        Just(json!(0.5)),
        Just(json!(-7.25)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(5e-324)),
        Just(json!(u64::MAX)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!("")),
        Just(json!("k")),
        Just(json!("K")),
        Just(json!("kk")),
        Just(json!("ü")),
        Just(json!("Ü")),
        Just(json!("10.1.2.3")),
        Just(json!("::1")),
        Just(json!("/k/x")),
        Just(json!("/k")),
        Just(json!("/K/")),
        Just(json!("İ")),
        Just(json!("i̇")),
        Just(json!("1")),
        "\\PC{0,6}".prop_map(Value::String),
        Just(json!(true)),
        Just(json!(false)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..4).prop_map(Value::Array),
        1 => Just(json!({"nested": 1})),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let fields = ["a", "b", "s", "t", "flag", "other", "arr"];
    (
        prop::collection::vec(prop::option::of(value()), fields.len()),
        prop::collection::vec(
            (
                prop::option::of(scalar()),
                prop::collection::vec(scalar(), 0..3),
            ),
            0..3,
        ),
    )
        .prop_map(move |(vals, objs)| {
            let mut m = Map::new();
            for (f, v) in fields.iter().zip(vals) {
                if let Some(v) = v {
                    m.insert(f.to_string(), v);
                }
            }
            let objs: Vec<Value> = objs
                .into_iter()
                .map(|(s, arr)| {
                    let mut o = Map::new();
                    if let Some(s) = s {
                        o.insert("s".into(), s);
                    }
                    o.insert("arr".into(), Value::Array(arr));
                    Value::Object(o)
                })
                .collect();
            m.insert("objs".into(), Value::Array(objs));
            Value::Object(m)
        })
}

fn compile(src: &str, engine: Engine) -> RuleSet {
    let checked = vigil_compiler::check_source("diff.rules", src, None);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{src}\n{errors:#?}");
    let rs = RuleSet::from_checked(&checked, engine).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(rs.engine(), engine, "{:?}", rs.fallback);
    rs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rules_agree_on_events(exprs in prop::collection::vec(bool_expr(), 1..4), events in prop::collection::vec(event(), 1..6)) {
        let mut src = String::from("package d\n");
        for (i, e) in exprs.iter().enumerate() {
            src.push_str(&format!("rule r{i} {{\n  severity info\n  on event where {e}\n}}\n"));
        }
        let interp = compile(&src, Engine::Interp);
        let jit = compile(&src, Engine::Jit);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut scratch = Scratch::default();
        let (mut indexed, mut indexed_interp) = (Vec::new(), Vec::new());
        for ev in &events {
            let mut fi = interp.frame();
            fi.fill_json(interp.ir(), ev);
            let mut fj = jit.frame();
            fj.fill_json(jit.ir(), ev);
            interp.matching_all(&fi, &mut a);
            jit.matching_all(&fj, &mut b);
            prop_assert_eq!(&a, &b, "{}\non {}", src, ev);
            // Single-program calls agree with batches, and the index never drops a match.
            let single: Vec<u32> = (0..exprs.len() as u32).filter(|p| jit.eval_bool(*p as usize, &fj)).collect();
            prop_assert_eq!(&single, &b, "single\n{}\non {}", src, ev);
            jit.matching(&fj, &mut scratch, &mut indexed);
            prop_assert_eq!(&indexed, &b, "index\n{}\non {}", src, ev);
            interp.matching(&fi, &mut scratch, &mut indexed_interp);
            prop_assert_eq!(&indexed_interp, &b, "interp index\n{}\non {}", src, ev);
        }
    }
}

/// Rules pinned by array membership (ECS's `"process" in event.event.category`) are keyed on
/// the array: an event's distinct elements pick their filters, and both engines match what
/// evaluating every filter matches (no element, one, several, repeats, non-strings).
#[test]
fn an_array_key_picks_the_filters_of_each_element() {
    let mut src = String::from("package d\n");
    let cats = ["process", "network", "file"];
    for (i, c) in cats.iter().enumerate() {
        src.push_str(&format!(
            "rule r{i} {{\n  severity info\n  on event where \"{c}\" in event.category and event.n > {i}\n}}\n"
        ));
    }
    src.push_str("rule any_host {\n  severity info\n  on event where event.host == \"h\"\n}\n");
    let events = [
        json!({"category": ["process"], "n": 5}),
        json!({"category": ["network", "process"], "n": 5, "host": "h"}),
        json!({"category": ["file", "file", "network"], "n": 5}),
        json!({"category": [], "n": 5}),
        json!({"category": "process", "n": 5}),
        json!({"category": [1, "process", null], "n": 0}),
        json!({"n": 5, "host": "h"}),
    ];
    for engine in [Engine::Interp, Engine::Jit] {
        let rs = compile(&src, engine);
        assert_eq!(
            rs.index().indexed(),
            3,
            "the three membership rules are keyed"
        );
        let mut scratch = Scratch::default();
        let (mut all, mut indexed) = (Vec::new(), Vec::new());
        let mut seen = Vec::new();
        for ev in &events {
            let mut f = rs.frame();
            f.fill_json(rs.ir(), ev);
            rs.matching_all(&f, &mut all);
            rs.matching(&f, &mut scratch, &mut indexed);
            assert_eq!(indexed, all, "{engine:?} on {ev}");
            seen.push(all.clone());
        }
        assert_eq!(
            seen,
            [
                vec![0],
                vec![0, 1, 3],
                vec![1, 2],
                vec![],
                vec![],
                vec![],
                vec![3]
            ],
            "{engine:?}"
        );
    }
}

// ------------------------------------------------------------ numeric IR

#[derive(Debug, Clone)]
enum N {
    Slot(u32),
    Const(f64),
    Math(Math, Box<N>),
    Arith(Arith, Box<N>, Box<N>),
}

fn special_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(f64::MAX),
        Just(1.0),
        Just(0.5),
        Just(-2.5),
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

fn num_ir() -> impl Strategy<Value = N> {
    let leaf = prop_oneof![
        (0u32..3).prop_map(N::Slot),
        special_f64().prop_map(N::Const)
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec![Math::Neg, Math::Abs, Math::Ln, Math::Log10]),
                inner.clone()
            )
                .prop_map(|(m, a)| N::Math(m, Box::new(a))),
            (
                prop::sample::select(vec![
                    Arith::Add,
                    Arith::Sub,
                    Arith::Mul,
                    Arith::Div,
                    Arith::Min,
                    Arith::Max,
                    Arith::Round
                ]),
                inner.clone(),
                inner
            )
                .prop_map(|(op, a, b)| N::Arith(op, Box::new(a), Box::new(b))),
        ]
    })
}

fn build(ir: &mut Ir, n: &N, slots: &[u32]) -> NodeId {
    match n {
        N::Slot(i) => ir.add(Node::Slot(
            SlotRef {
                depth: 0,
                id: slots[*i as usize],
            },
            Kind::Num,
        )),
        N::Const(c) => ir.add(Node::Num(c.to_bits())),
        N::Math(m, a) => {
            let a = build(ir, a, slots);
            ir.add(Node::Math(*m, a))
        }
        N::Arith(op, a, b) => {
            let a = build(ir, a, slots);
            let b = build(ir, b, slots);
            ir.add(Node::Arith(*op, a, b))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn numbers_agree_bit_for_bit(exprs in prop::collection::vec(num_ir(), 1..4), inputs in prop::collection::vec(prop::collection::vec(prop::option::of(special_f64()), 3), 1..6)) {
        let build_set = |engine| {
            let mut ir = Ir::default();
            let slots: Vec<u32> = (0..3).map(|i| ir.layout.slot(SlotSource::Series(format!("x{i}")))).collect();
            for e in &exprs {
                let root = build(&mut ir, e, &slots);
                ir.programs.push(Program { rule: "n".into(), role: Role::When(None), root, kind: Kind::Num, rows: None });
            }
            RuleSet::new(ir, engine)
        };
        let interp = build_set(Engine::Interp);
        let jit = build_set(Engine::Jit);
        prop_assert_eq!(jit.engine(), Engine::Jit);
        for inp in &inputs {
            let fill = |rs: &RuleSet| {
                let mut f: Frame = rs.frame();
                for (i, v) in inp.iter().enumerate() {
                    if let Some(v) = v {
                        f.set(i as u32, SlotVal::number(*v));
                    }
                }
                f
            };
            let (fi, fj) = (fill(&interp), fill(&jit));
            for (p, e) in exprs.iter().enumerate() {
                let a = interp.eval_num(p, &fi).map(f64::to_bits);
                let b = jit.eval_num(p, &fj).map(f64::to_bits);
                prop_assert_eq!(a, b, "{:?} on {:?}", e, inp);
            }
        }
    }
}
