//! `in [..]`, `in cidr [..]`, membership in an array field, and string operators with
//! constant patterns, compiled into sets, tries and automata.

use super::*;
use crate::ir::lists::{FileList, ListTest};

impl<'a> Lowerer<'a> {
    /// `x [not] in [nocase|cidr] xs`.
    pub(super) fn in_test(&mut self, sc: &mut Scope<'a>, e: &'a Expr) -> Result<Low, LowerError> {
        let ExprKind::In {
            negated,
            nocase,
            cidr,
            lhs,
            rhs,
        } = &e.kind
        else {
            return err(e.span, "not a membership test");
        };
        let m = Membership {
            negated: *negated,
            nocase: *nocase || sc.nocase,
            lhs: lhs.span,
            rhs: rhs.span,
        };
        let l = self.expr(sc, lhs)?;
        if let Some(id) = self.in_file_list(sc, &l, rhs, *cidr, m) {
            return Ok(Low::Node(id, T::Bool));
        }
        let r = self.expr(sc, rhs)?;
        let items = match r {
            Low::List(items) => items,
            Low::Str(s) => vec![Low::Str(s)],
            Low::Node(n, T::Dyn) => {
                let Node::Slot(arr, _) = *self.ir.node(n) else {
                    return err(m.rhs, "`in` needs a list");
                };
                if *cidr {
                    return fail(
                        Code::ConstantRequired,
                        m.rhs,
                        "`in cidr` needs constant prefixes",
                    );
                }
                return self.in_array_field(sc, l, arr, m);
            }
            _ => return err(m.rhs, "`in` needs a list"),
        };
        if *cidr {
            return self.in_cidr(l, &items, m);
        }
        if !items.is_empty() && items.iter().all(|i| matches!(i, Low::Str(_))) {
            let strs: Vec<String> = items
                .into_iter()
                .filter_map(|i| match i {
                    Low::Str(s) => Some(s),
                    _ => None,
                })
                .collect();
            return self.in_strings(sc, l, strs, m);
        }
        self.in_numbers(l, items, m)
    }

    /// `event.x in feed` where `feed` is read from a file: a lookup in the list's current
    /// contents ([`Node::InList`]), so a new version of the file needs no recompile. `None`
    /// for anything else (the list is then inlined like a literal one).
    fn in_file_list(
        &mut self,
        sc: &Scope<'a>,
        l: &Low,
        rhs: &'a Expr,
        cidr: bool,
        m: Membership,
    ) -> Option<NodeId> {
        let test = if cidr {
            ListTest::Cidr
        } else if m.nocase {
            ListTest::Text {
                op: TextOp::Equals,
                all: false,
                nocase: true,
            }
        } else {
            ListTest::Exact
        };
        self.file_list_test(sc, l, rhs, test, m.negated, false)
    }

    /// A field tested against the file list `rhs` names, if it names one (see
    /// [`Lowerer::file_list`]) and the left side is a field; with `elements`, an array field's
    /// elements are tested (string operators, as [`Node::Text`]).
    pub(super) fn file_list_test(
        &mut self,
        sc: &Scope<'a>,
        l: &Low,
        rhs: &'a Expr,
        test: ListTest,
        negated: bool,
        elements: bool,
    ) -> Option<NodeId> {
        let Low::Node(n, T::Dyn) = *l else {
            return None;
        };
        let Node::Slot(slot, _) = *self.ir.node(n) else {
            return None;
        };
        let key = self.file_list(sc, rhs)?;
        let list = match self.file_lists.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                let (path, typed_cidr) = self.list_file_of(&key)?;
                let name = format!("{}.{}", key.0, key.2);
                self.ir.lists.push(FileList::new(name, path, typed_cidr));
                self.file_lists.push(key);
                self.file_lists.len() - 1
            }
        };
        let test = self.ir.lists[list].use_as(test);
        let elem = elements.then(|| {
            let layout = self.ir.layout_for_mut(&sc.opened, slot.depth as usize);
            layout.elem_mut(slot.id).slot(SlotSource::Field(Vec::new()))
        });
        Some(self.ir.add(Node::InList {
            slot,
            list: list as u32,
            test,
            negated,
            elem,
        }))
    }

    /// The list declaration `e` names, if it is read from a file and nothing amends it
    /// (`override`, `extend`): those change what the file says, so they are inlined.
    fn file_list(&self, sc: &Scope<'a>, e: &Expr) -> Option<SymKey> {
        let ExprKind::Ref { name, matchers } = &e.kind else {
            return None;
        };
        let head = name.split('.').next().unwrap_or(name);
        if !matchers.is_empty()
            || sc.binds.iter().any(|(v, _)| v == head)
            || sc.lets.contains_key(name.as_str())
        {
            return None;
        }
        let ck = self.ck;
        let key = ck
            .syms
            .resolve(&ck.files, sc.file, Namespace::Value, name)?;
        if self.overrides.contains_key(&key) || self.extends.contains_key(&key) {
            return None;
        }
        self.list_file_of(&key).map(|_| key)
    }

    /// A file list's path and whether it is declared `: cidr`; `None` if `key` is not a
    /// list read from a file, or is typed other than `string`, `cidr` or `ip`.
    fn list_file_of(&self, key: &SymKey) -> Option<(std::path::PathBuf, bool)> {
        let sym = self.ck.syms.map.get(key)?;
        let f = &self.ck.files[sym.file];
        let DeclKind::List {
            elem,
            file: Some(_),
            ..
        } = &f.module.decls[sym.decl].kind
        else {
            return None;
        };
        let ty = elem.as_ref().map(|t| t.name.as_str());
        if !matches!(ty, None | Some("string" | "cidr" | "ip")) {
            return None;
        }
        Some((self.list_path(key)?, ty == Some("cidr")))
    }

    /// The file a list declaration is read from.
    fn list_path(&self, key: &SymKey) -> Option<std::path::PathBuf> {
        let sym = self.ck.syms.map.get(key)?;
        let f = &self.ck.files[sym.file];
        let (_, path) = f.list_paths.iter().find(|(d, _)| *d == sym.decl)?;
        Some(path.clone())
    }

    /// Fills each file list's table from the entries the loader read, and sets
    /// [`Ir::list_files`] to the files that reload the rules: lists inlined somewhere, and
    /// calendars' holidays.
    pub(super) fn fill_lists(&mut self) -> Result<(), LowerError> {
        let ck = self.ck;
        for (i, key) in self.file_lists.iter().enumerate() {
            let sym = ck.syms.map[key];
            let decl = &ck.files[sym.file].module.decls[sym.decl];
            let DeclKind::List { items, .. } = &decl.kind else {
                continue;
            };
            let entries: Vec<&str> = match &items.kind {
                ExprKind::List(v) => v
                    .iter()
                    .filter_map(|e| match &e.kind {
                        ExprKind::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let list = &self.ir.lists[i];
            let table = list
                .build(entries.into_iter().map(|e| (0, e)))
                .map_err(|message| LowerError {
                    code: Code::CannotEvaluate,
                    message: format!("list `{}`: {message}", list.name),
                    span: decl.span,
                })?;
            list.install(table);
        }
        let mut reload: Vec<std::path::PathBuf> = (ck.files.iter())
            .flat_map(|f| f.holidays_files.iter().cloned())
            .collect();
        reload.extend(self.inlined_lists.iter().filter_map(|k| self.list_path(k)));
        reload.sort();
        reload.dedup();
        self.ir.list_files = reload;
        Ok(())
    }

    /// Membership in an array field: any element equals the value.
    fn in_array_field(
        &mut self,
        sc: &mut Scope<'a>,
        l: Low,
        arr: SlotRef,
        m: Membership,
    ) -> Result<Low, LowerError> {
        let layout = self.ir.layout_for_mut(&sc.opened, arr.depth as usize);
        let own = layout.elem_mut(arr.id).slot(SlotSource::Field(Vec::new()));
        let mut opened = sc.opened.clone();
        opened.push(arr);
        let depth = opened.len() as u8;
        let e = self.dyn_slot(SlotRef { depth, id: own });
        let (l, e) = (Operand::plain(l), Operand::plain(e));
        let eq = self.compare(&opened, CmpOp::Eq, l, e, m.nocase, m.rhs)?;
        let q = self.ir.add(Node::Quant {
            all: false,
            slot: arr,
            body: eq,
            depth,
        });
        let id = if m.negated { self.not(q) } else { q };
        Ok(Low::Node(id, T::Bool))
    }

    /// `in cidr [..]`: the prefixes compiled into a trie.
    fn in_cidr(&mut self, l: Low, items: &[Low], m: Membership) -> Result<Low, LowerError> {
        let mut pats = Vec::new();
        for it in items {
            match it {
                Low::Str(s) => pats.push(s.as_str()),
                _ => {
                    return fail(
                        Code::ConstantRequired,
                        m.rhs,
                        "`in cidr` needs a list of prefixes",
                    );
                }
            }
        }
        let trie = CidrTrie::new(pats).map_err(|msg| LowerError {
            code: Code::ConstantRequired,
            message: msg,
            span: m.rhs,
        })?;
        Ok(match l {
            Low::Str(s) => {
                let v = trie.lookup(&s).is_some_and(|hit| hit != m.negated);
                Low::Node(self.ir.add(Node::Bool(v)), T::Bool)
            }
            Low::Node(n, T::Dyn) => {
                let Node::Slot(slot, _) = *self.ir.node(n) else {
                    return fail(
                        Code::EventFieldRequired,
                        m.lhs,
                        "`in cidr` needs an address field",
                    );
                };
                self.ir.cidrs.push(trie);
                let id = self.ir.add(Node::Cidr {
                    slot,
                    trie: self.ir.cidrs.len() as u32 - 1,
                    negated: m.negated,
                });
                Low::Node(id, T::Bool)
            }
            _ => Low::Node(self.ir.add(Node::Bool(false)), T::Bool),
        })
    }

    /// `in ["a", "b"]`: a set of interned ids (or, under `nocase`, a lower-case table).
    fn in_strings(
        &mut self,
        sc: &Scope<'a>,
        l: Low,
        strs: Vec<String>,
        m: Membership,
    ) -> Result<Low, LowerError> {
        if m.nocase {
            let path = sc.opened.clone();
            let spec = TextSpec::equals_nocase(m.negated);
            return self.text(&path, l, spec, strs, m.lhs);
        }
        Ok(match l {
            Low::Str(s) => Low::Node(
                self.ir.add(Node::Bool(strs.contains(&s) != m.negated)),
                T::Bool,
            ),
            Low::Node(n, T::Dyn) => {
                let Node::Slot(slot, _) = *self.ir.node(n) else {
                    return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                };
                self.mark_sym_at(&sc.opened, slot);
                let mut set: Vec<Sym> = strs.iter().map(|s| self.ir.strings.intern(s)).collect();
                set.sort_unstable();
                set.dedup();
                let idx = match self.ir.sets.iter().position(|s| *s == set) {
                    Some(i) => i,
                    None => {
                        self.ir.sets.push(set);
                        self.ir.sets.len() - 1
                    }
                };
                let id = self.ir.add(Node::InSyms {
                    slot,
                    set: idx as u32,
                    negated: m.negated,
                });
                Low::Node(id, T::Bool)
            }
            _ => Low::Node(self.ir.add(Node::Bool(false)), T::Bool),
        })
    }

    /// `in [1, 2]` (or an empty list): numbers compared by IEEE equality.
    fn in_numbers(&mut self, l: Low, items: Vec<Low>, m: Membership) -> Result<Low, LowerError> {
        let partner = self.unit(m.lhs);
        let mut values = Vec::new();
        for it in items {
            let constant = match &it {
                Low::Pct(p) => Some(pct(*p, partner).to_bits()),
                Low::Node(n, T::Num) => match self.ir.node(*n) {
                    Node::Num(b) => Some(*b),
                    _ => None,
                },
                Low::Node(n, T::Bool) => match self.ir.node(*n) {
                    Node::Bool(b) => Some((*b as u8 as f64).to_bits()),
                    _ => None,
                },
                _ => None,
            };
            match (constant, &it) {
                (Some(v), _) => values.push(v),
                (None, Low::Node(_, T::Dyn)) => {
                    return fail(
                        Code::ConstantRequired,
                        m.rhs,
                        "`in [..]` needs constants; this list holds a value read per event",
                    );
                }
                (None, Low::Node(..)) => {
                    return fail(
                        Code::ConstantRequired,
                        m.rhs,
                        "`in` needs a list of constants",
                    );
                }
                (None, _) => {
                    return fail(
                        Code::ConstantRequired,
                        m.rhs,
                        "`in` needs a list of one kind of constant",
                    );
                }
            }
        }
        if matches!(l, Low::Str(_)) {
            return Ok(Low::Node(self.ir.add(Node::Bool(m.negated)), T::Bool));
        }
        let lhs_n = self.number(l, None, m.lhs)?;
        let id = self.ir.add(Node::InNums {
            lhs: lhs_n,
            values,
            negated: m.negated,
        });
        Ok(Low::Node(self.fold_bool(id), T::Bool))
    }

    /// A string operator with constant patterns.
    pub(super) fn text(
        &mut self,
        path: &[SlotRef],
        l: Low,
        spec: TextSpec,
        pats: Vec<String>,
        span: Span,
    ) -> Result<Low, LowerError> {
        let TextSpec {
            op,
            all,
            nocase,
            negated,
            elements,
        } = spec;
        let test = TextTest::new(op, all, nocase, pats).map_err(|m| LowerError {
            code: Code::CannotEvaluate,
            message: m,
            span,
        })?;
        Ok(match l {
            Low::Str(s) => Low::Node(self.ir.add(Node::Bool(test.test(&s) != negated)), T::Bool),
            Low::List(items) => {
                let strs: Vec<String> = items
                    .into_iter()
                    .filter_map(|i| match i {
                        Low::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                let v = test.test_elements(strs.iter().map(String::as_str)) != negated;
                Low::Node(self.ir.add(Node::Bool(v)), T::Bool)
            }
            Low::Node(n, T::Dyn) => {
                let Node::Slot(slot, _) = *self.ir.node(n) else {
                    return Ok(Low::Node(self.ir.add(Node::Bool(false)), T::Bool));
                };
                // An array here is tested element by element (string operators): give it an
                // element layout whose slot 0 (path `[]`) is the element itself.
                let elem = elements.then(|| {
                    let layout = self.ir.layout_for_mut(path, slot.depth as usize);
                    layout.elem_mut(slot.id).slot(SlotSource::Field(Vec::new()))
                });
                self.ir.texts.push(test);
                let id = self.ir.add(Node::Text {
                    slot,
                    test: self.ir.texts.len() as u32 - 1,
                    negated,
                    elem,
                });
                Low::Node(id, T::Bool)
            }
            _ => Low::Node(self.ir.add(Node::Bool(false)), T::Bool),
        })
    }
}
