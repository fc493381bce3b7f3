//! Lists read from files (`list blocked: cidr = file("feeds/blocked.txt")`) that rules test
//! membership in (`in`, `in nocase`, `in cidr`): looked up at run time in a table that can be
//! replaced while the rules run, so a threat feed or an allow-list that another tool rewrites
//! takes effect without recompiling the rules or touching their state. A list used any
//! other way (spread into another list, a string operator's patterns, a quantifier) is
//! inlined when the rules are compiled, and its file is in [`super::Ir::list_files`].

use super::tables::{CidrTrie, TextOp, TextTest};
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// How a rule tests a file list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListTest {
    /// `x in list`: the whole string, exactly.
    Exact,
    /// `x in nocase list`: the whole string, ignoring case as `nocase` does everywhere.
    Nocase,
    /// `x in cidr list`: an address inside one of the networks.
    Cidr,
}

impl ListTest {
    /// The code the JIT passes for it.
    pub fn code(self) -> u32 {
        self as u32
    }
    pub fn from_code(c: u32) -> ListTest {
        match c {
            0 => ListTest::Exact,
            1 => ListTest::Nocase,
            _ => ListTest::Cidr,
        }
    }
}

/// One list file the rules test at run time, with its current contents.
#[derive(Debug)]
pub struct FileList {
    /// `package.name`, for messages.
    pub name: String,
    pub path: PathBuf,
    /// Declared `: cidr`: every entry must be a network or an address.
    pub cidr: bool,
    /// The tests rules make of it; only their tables are built.
    uses: HashSet<ListTest>,
    table: ArcSwap<ListTable>,
}

/// A file list's contents, as the tests its rules make read them.
#[derive(Debug, Default)]
pub struct ListTable {
    exact: HashSet<Box<str>>,
    nocase: Option<TextTest>,
    trie: Option<CidrTrie>,
    entries: usize,
}

impl FileList {
    /// A list with no entries yet ([`FileList::install`] fills it).
    pub fn new(name: String, path: PathBuf, cidr: bool) -> FileList {
        FileList {
            name,
            path,
            cidr,
            uses: HashSet::new(),
            table: ArcSwap::from_pointee(ListTable::default()),
        }
    }

    /// Notes that a rule tests the list this way.
    pub fn use_as(&mut self, how: ListTest) {
        self.uses.insert(how);
    }

    /// The tables for `entries` (each with its line number), or why they cannot be built:
    /// an entry of a `cidr` list (or one tested `in cidr`) that is not a network.
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
            return Err(format!(
                "line {line}: `{e}` is not a network or address (V0207)"
            ));
        }
        let strings = || entries.iter().map(|(_, e)| *e);
        let mut t = ListTable {
            entries: entries.len(),
            ..ListTable::default()
        };
        if self.uses.contains(&ListTest::Exact) {
            t.exact = strings().map(Box::from).collect();
        }
        if self.uses.contains(&ListTest::Nocase) {
            let pats = strings().map(str::to_string).collect();
            t.nocase = Some(TextTest::new(TextOp::Equals, false, true, pats)?);
        }
        if self.uses.contains(&ListTest::Cidr) {
            t.trie = Some(CidrTrie::new(strings())?);
        }
        Ok(t)
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

    /// How many entries the current contents hold.
    pub fn entries(&self) -> usize {
        self.table.load().entries
    }

    /// Whether `s` is in the list as `how` tests it; `None` when `s` is not an address and
    /// `how` is [`ListTest::Cidr`] (so `not in cidr` is false for it too, as for a literal).
    pub fn test(&self, how: ListTest, s: &str) -> Option<bool> {
        let t = self.table.load();
        match how {
            ListTest::Exact => Some(t.exact.contains(s)),
            ListTest::Nocase => Some(t.nocase.as_ref().is_some_and(|n| n.test(s))),
            ListTest::Cidr => t.trie.as_ref().map_or(Some(false), |tr| tr.lookup(s)),
        }
    }
}
