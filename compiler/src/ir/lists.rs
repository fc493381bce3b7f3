//! Lists read from files (`list blocked: cidr = file("feeds/blocked.txt")`) that rules test
//! a field against (`in`, `in nocase`, `in cidr`, or as a string operator's patterns:
//! `endswith any bad_domains`): looked up at run time in tables that can be replaced while
//! the rules run, so a threat feed or an allow-list that another tool rewrites takes effect
//! without recompiling the rules or touching their state. A list used any other way (spread
//! into another list, a quantifier's range) is inlined when the rules are compiled, and its
//! file is in [`super::Ir::list_files`].

use super::tables::{CidrTrie, TextOp, TextTest};
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// How a rule tests a field against a file list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListTest {
    /// `x in list`: the whole string, exactly.
    Exact,
    /// `x in cidr list`: an address inside one of the networks.
    Cidr,
    /// A string operator with the list as its patterns (`contains any`, `endswith all`,
    /// `glob any`, ...; `in nocase` is `Equals` under `nocase`); on an array field it tests
    /// the elements, as with literal patterns.
    Text { op: TextOp, all: bool, nocase: bool },
}

/// A test's table.
#[derive(Debug)]
enum Built {
    Exact(HashSet<Box<str>>),
    Text(TextTest),
    Cidr(CidrTrie),
}

/// One list file the rules test at run time, with its current contents.
#[derive(Debug)]
pub struct FileList {
    /// `package.name`, for messages.
    pub name: String,
    pub path: PathBuf,
    /// Declared `: cidr`: every entry must be a network or an address.
    pub cidr: bool,
    /// The tests rules make of it (a node names one by its place here); only their tables
    /// are built.
    uses: Vec<ListTest>,
    table: ArcSwap<ListTable>,
}

/// A file list's contents, as the tests its rules make read them: one table per use.
#[derive(Debug, Default)]
pub struct ListTable {
    built: Vec<Built>,
    entries: usize,
}

impl FileList {
    /// A list with no entries yet ([`FileList::install`] fills it).
    pub fn new(name: String, path: PathBuf, cidr: bool) -> FileList {
        FileList {
            name,
            path,
            cidr,
            uses: Vec::new(),
            table: ArcSwap::from_pointee(ListTable::default()),
        }
    }

    /// Notes that a rule tests the list this way; the use's number.
    pub fn use_as(&mut self, how: ListTest) -> u32 {
        match self.uses.iter().position(|u| *u == how) {
            Some(i) => i as u32,
            None => {
                self.uses.push(how);
                self.uses.len() as u32 - 1
            }
        }
    }

    /// The tables for `entries` (each with its line number, or 0 where none is known), or
    /// why they cannot be built: an entry of a `cidr` list (or one tested `in cidr`) that is
    /// not a network, a pattern a string operator cannot compile.
    pub fn build<'a>(
        &self,
        entries: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Result<ListTable, String> {
        let entries: Vec<(usize, &str)> = entries.into_iter().collect();
        let networks = self.cidr || self.uses.contains(&ListTest::Cidr);
        if networks
            && let Some((line, e)) =
                (entries.iter()).find(|(_, e)| !crate::list_file::valid_cidr(e))
        {
            let at = if *line > 0 {
                format!("line {line}: ")
            } else {
                String::new()
            };
            return Err(format!("{at}`{e}` is not a network or address (V0207)"));
        }
        let strings = || entries.iter().map(|(_, e)| *e);
        let built = (self.uses.iter())
            .map(|how| {
                Ok(match *how {
                    ListTest::Exact => Built::Exact(strings().map(Box::from).collect()),
                    ListTest::Text { op, all, nocase } => Built::Text(TextTest::new(
                        op,
                        all,
                        nocase,
                        strings().map(str::to_string).collect(),
                    )?),
                    ListTest::Cidr => Built::Cidr(CidrTrie::new(strings())?),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ListTable {
            built,
            entries: entries.len(),
        })
    }

    /// Puts new contents in place: evaluations from now on read them.
    pub fn install(&self, table: ListTable) {
        self.table.store(Arc::new(table));
    }

    /// Re-reads the file; on success the new contents are in place (their entry count is
    /// returned), otherwise the previous ones stay and the error says why.
    pub fn reload(&self) -> Result<usize, String> {
        let text = crate::list_file::read_text(&self.path)
            .map_err(|why| format!("cannot read list file: {why} (V0120)"))?;
        let table = self.build(crate::list_file::entries(&text))?;
        let n = table.entries;
        self.install(table);
        Ok(n)
    }

    /// How use `use_no` tests the list.
    pub fn use_kind(&self, use_no: u32) -> Option<ListTest> {
        self.uses.get(use_no as usize).copied()
    }

    /// How many entries the current contents hold.
    pub fn entries(&self) -> usize {
        self.table.load().entries
    }

    /// Runs use `use_no` on a string: `None` when it does not apply (not an address, for
    /// `in cidr`), so `not in cidr` is false for it too, as for a literal list.
    pub fn test(&self, use_no: u32, s: &str) -> Option<bool> {
        let t = self.table.load();
        match t.built.get(use_no as usize)? {
            Built::Exact(set) => Some(set.contains(s)),
            Built::Text(test) => Some(test.test(s)),
            Built::Cidr(trie) => trie.lookup(s),
        }
    }

    /// Runs use `use_no` (a string operator) on an array's string elements.
    pub fn test_elements<'a>(
        &self,
        use_no: u32,
        elems: impl Iterator<Item = &'a str> + Clone,
    ) -> bool {
        let t = self.table.load();
        match t.built.get(use_no as usize) {
            Some(Built::Text(test)) => test.test_elements(elems),
            _ => false,
        }
    }
}
