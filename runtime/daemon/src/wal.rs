//! The write-ahead log: every accepted input batch is here, synced to disk, before its 2xx
//! answer; a restart restores the last checkpoint and replays the entries after it.
//!
//! Segment files `wal/NNNNNNNNNNNNNNNN.log`, each a run of entries `[len u32][crc32 u32]
//! [payload]` (little-endian; the CRC covers the payload). A payload is the arrival time (i64
//! ms), a kind byte and the body (accepted lines as text, records that arrived in binary
//! protocols in a binary form, recorded lines played as a backfill, or an acknowledgement as
//! JSON).
//! Plain segment files rather than an embedded database: the log is only appended and read
//! front to back, a checkpoint deletes whole segments, and a torn tail is found by the CRC.
//! After a failed sync (or a failed write it cannot cut back) the log takes nothing more.
//!
//! Segments are filled with zeros ahead of use (a thread prepares the next one): overwriting
//! blocks the file already has lets `fdatasync` write the data alone, where appending also
//! commits the file's new size to the filesystem journal (on ext4, about a third of each
//! sync). A zero header is therefore the end of a segment's entries, when only zeros follow.
//!
//! A sync can run on the log's syncing thread ([`Wal::start_sync`]) while its caller goes on:
//! the engine applies the next requests during the disk's wait, and answers each group once a
//! sync started after its writes has finished.

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Where the log stands: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// What an entry carries.
/// (Generic so that appending borrows what the reader gets owned.)
#[derive(Debug, Clone, PartialEq)]
pub enum Body<S = String, B = Vec<u8>> {
    /// Accepted input lines, `\n`-separated, in the `vigil replay` line format.
    Lines(S),
    /// An acknowledgement, as JSON.
    Ack(S),
    /// Recorded lines in time order, applied with the clock following them (the demo).
    Backfill(S),
    /// Accepted records that did not arrive as lines (remote_write), in
    /// [`vigil_ingest::binary`]'s packed form.
    Records(B),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Arrival time, ms (the clock the batch was applied at).
    pub now: i64,
    pub body: Body,
}

/// An entry larger than this is refused on append and taken for damage on reading.
pub const MAX_ENTRY: usize = 256 << 20;
const HEADER: usize = 8;
/// The next segment while it is being prepared (not a `.log`, so never read as one).
const SPARE: &str = "next.spare";
/// Zeros written (and synced) at a time when preparing a segment, and the pause after each:
/// the log's own syncs queue behind the device's writes, so preparing goes in small steps
/// (64 MiB in about a second).
const SPARE_STEP: usize = 256 << 10;
const SPARE_PAUSE: std::time::Duration = std::time::Duration::from_micros(2500);

/// How the log writes.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A new segment is started once one holds this many bytes.
    pub segment_bytes: u64,
    /// `fdatasync` each group of appends.
    pub sync: bool,
    /// Prepare segments as zeros ahead of use (only with `sync`: it makes syncs cheaper).
    pub preallocate: bool,
}

pub struct Wal {
    dir: PathBuf,
    segment: u64,
    /// Shared with the syncing thread.
    file: Arc<File>,
    len: u64,
    settings: Settings,
    buf: Vec<u8>,
    /// The segment holds zeros past `len` (written ahead), so syncs need not grow it.
    ahead: bool,
    /// The next segment being prepared; `Ok` once it is zeros on disk.
    spare: Option<JoinHandle<io::Result<()>>>,
    /// Preparing failed (a full disk, say): segments grow as they are written from then on.
    spare_failed: bool,
    stop_spare: Arc<AtomicBool>,
    /// Why nothing more may be appended: a sync failed, or a failed write left part of an
    /// entry that could not be cut off. Recovery stops reading a segment at its first damaged
    /// entry, so an entry appended after such a failure could be acknowledged and then lost.
    broken: Option<String>,
    /// The syncing thread, started by the first [`Wal::start_sync`].
    syncer: Option<Syncer>,
}

/// What runs on the syncing thread once a sync started by [`Wal::start_sync`] is done, given
/// its result (the engine answers the requests it covers there, without waiting for its own
/// thread to come back to them).
pub type AfterSync = Box<dyn FnOnce(&io::Result<()>) + Send>;

/// A thread that syncs the files sent to it, one at a time, runs what follows each, and sends
/// back each result.
struct Syncer {
    files: Option<crossbeam_channel::Sender<(Arc<File>, AfterSync)>>,
    done: crossbeam_channel::Receiver<io::Result<()>>,
    /// A sync was started and its result not yet taken.
    busy: bool,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    fn spawn() -> io::Result<Syncer> {
        let (files, todo) = crossbeam_channel::bounded::<(Arc<File>, AfterSync)>(1);
        let (tell, done) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("vigil-wal-sync".into())
            .spawn(move || {
                for (f, after) in todo {
                    let r = f.sync_data();
                    after(&r);
                    if tell.send(r).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Syncer {
            files: Some(files),
            done,
            busy: false,
            thread: Some(thread),
        })
    }
}

impl Drop for Syncer {
    /// Ends the thread once its sync under way (if any) is done.
    fn drop(&mut self) {
        self.files = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What reading the log found beyond its entries: damage cut off.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Recovery {
    pub entries: u64,
    /// `(segment, offset, why)` of each cut: the log is truncated there.
    pub cuts: Vec<(u64, u64, String)>,
}

fn name(segment: u64) -> String {
    format!("{segment:016}.log")
}

/// Segment numbers present, ascending.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let n = e.file_name();
        let n = n.to_string_lossy();
        if let Some(num) = n.strip_suffix(".log").and_then(|s| s.parse::<u64>().ok()) {
            v.push(num);
        }
    }
    v.sort_unstable();
    Ok(v)
}

impl Wal {
    /// Reads every entry at or after `from` (handing each to `f`), cutting off a torn or
    /// damaged tail, then opens the log for appending after the last good entry.
    pub fn open(
        dir: &Path,
        from: Pos,
        settings: Settings,
        f: &mut dyn FnMut(Entry),
    ) -> io::Result<(Wal, Recovery)> {
        fs::create_dir_all(dir)?;
        let mut rec = Recovery::default();
        let segs = segments(dir)?;
        let mut last = (from.segment.max(1), 0u64);
        let mut ahead = false;
        for &seg in segs.iter().filter(|&&s| s >= from.segment) {
            let path = dir.join(name(seg));
            let mut data = Vec::new();
            File::open(&path)?.read_to_end(&mut data)?;
            let mut off = if seg == from.segment {
                from.offset as usize
            } else {
                0
            };
            if off > data.len() {
                // The checkpoint covers more than the segment holds (unsynced appends lost to
                // an OS crash, with `wal.sync` off): what it covers is in its snapshot.
                rec.cuts.push((
                    seg,
                    data.len() as u64,
                    format!(
                        "{} bytes the checkpoint covers are missing",
                        off - data.len()
                    ),
                ));
                off = data.len();
            }
            let good_end = loop {
                if off == data.len() {
                    break off;
                }
                if data[off..(off + HEADER).min(data.len())]
                    .iter()
                    .all(|&b| b == 0)
                {
                    // Zeros prepared ahead: the end, when nothing but zeros follows (a crash
                    // can leave a later unsynced block written and an earlier one not).
                    if data[off..].iter().all(|&b| b == 0) {
                        break off;
                    }
                    rec.cuts.push((seg, off as u64, "data after zeros".into()));
                    break off;
                }
                match decode(&data[off..]) {
                    Ok((entry, used)) => {
                        rec.entries += 1;
                        f(entry);
                        off += used;
                    }
                    Err(why) => {
                        rec.cuts.push((seg, off as u64, why));
                        break off;
                    }
                }
            };
            let cut = rec.cuts.last().is_some_and(|c| c.0 == seg);
            if cut {
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(good_end as u64)?;
                file.sync_all()?;
            }
            ahead = !cut && good_end < data.len();
            last = (seg, good_end as u64);
        }
        if last.0 == from.segment && last.1 < from.offset {
            // Never write below the checkpoint's position: a later restart would start
            // reading in the middle of what was written there.
            last = (from.segment + 1, 0);
            ahead = false;
        }
        let (segment, len) = last;
        let path = dir.join(name(segment));
        // Not `append`: entries are written at `len`, over zeros prepared ahead.
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .read(true)
            .truncate(false)
            .open(&path)?;
        sync_dir(dir)?;
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                segment,
                file: Arc::new(file),
                len,
                settings,
                buf: Vec::new(),
                ahead,
                spare: None,
                spare_failed: false,
                stop_spare: Arc::new(AtomicBool::new(false)),
                broken: None,
                syncer: None,
            },
            rec,
        ))
    }

    /// Appends one entry arriving at `now` (written, not yet synced: see [`Wal::sync`]); its
    /// end position.
    pub fn append<S: AsRef<str>, B: AsRef<[u8]>>(
        &mut self,
        now: i64,
        body: &Body<S, B>,
    ) -> io::Result<Pos> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        let (kind, body) = match body {
            Body::Lines(s) => (0u8, s.as_ref().as_bytes()),
            Body::Ack(s) => (1u8, s.as_ref().as_bytes()),
            Body::Backfill(s) => (2u8, s.as_ref().as_bytes()),
            Body::Records(b) => (3u8, b.as_ref()),
        };
        let payload_len = 9 + body.len();
        if payload_len > MAX_ENTRY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "entry too large for the log",
            ));
        }
        self.buf.clear();
        self.buf
            .extend_from_slice(&(payload_len as u32).to_le_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&now.to_le_bytes());
        self.buf.push(kind);
        self.buf.extend_from_slice(body);
        let crc = crc32fast::hash(&self.buf[HEADER..]);
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.file.write_all_at(&self.buf, self.len) {
            // Whatever part of the entry was written goes, so later entries stay readable (a
            // full disk refuses this entry and takes the next once there is room).
            self.ahead = false;
            if let Err(cut) = self.file.set_len(self.len) {
                self.broken = Some(format!(
                    "a write failed ({e}) and its partial entry could not be cut off ({cut}); nothing more is logged until the daemon restarts"
                ));
            }
            return Err(e);
        }
        self.len += self.buf.len() as u64;
        if self.len >= self.settings.segment_bytes {
            self.rotate()?;
        }
        Ok(self.position())
    }

    /// Why the log takes nothing more (a failed sync, or a failed write it could not cut
    /// back), if it does not.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Makes every append so far durable (one `fdatasync` for a group of appends).
    pub fn sync(&mut self) -> io::Result<()> {
        if !self.settings.sync {
            return Ok(());
        }
        self.finish_sync()?;
        self.sync_now()?;
        self.synced();
        Ok(())
    }

    /// Starts making every append so far durable on the syncing thread, so the caller can go
    /// on; `after` runs there once it is done, [`Wal::syncing`] is then ready and
    /// [`Wal::finish_sync`] takes the result. A sync under way is finished first. Syncs here
    /// (and leaves nothing under way) when the thread cannot be started; `after` runs in any
    /// case, with the error when the log takes nothing more.
    pub fn start_sync(&mut self, after: AfterSync) -> io::Result<()> {
        if !self.settings.sync {
            after(&Ok(()));
            return Ok(());
        }
        let ready = self.finish_sync().and_then(|()| match &self.broken {
            Some(why) => Err(io::Error::other(why.clone())),
            None => Ok(()),
        });
        if ready.is_err() {
            after(&ready);
            return ready;
        }
        if self.syncer.is_none() {
            self.syncer = Syncer::spawn().ok();
        }
        let job = (self.file.clone(), after);
        let unsent = match self.syncer.as_ref().and_then(|s| s.files.as_ref()) {
            Some(files) => files.send(job).err().map(|e| e.into_inner()),
            None => Some(job),
        };
        match (unsent, &mut self.syncer) {
            (None, Some(s)) => {
                s.busy = true;
                Ok(())
            }
            (unsent, _) => {
                let r = self.sync();
                if let Some((_, after)) = unsent {
                    after(&r);
                }
                r
            }
        }
    }

    /// The sync under way, if any: ready once it is done (to wait for it alongside other
    /// work, with `crossbeam_channel::Select`).
    pub fn syncing(&self) -> Option<&crossbeam_channel::Receiver<io::Result<()>>> {
        self.syncer.as_ref().filter(|s| s.busy).map(|s| &s.done)
    }

    /// Waits for the sync under way, if any. A failure stops the log, as in [`Wal::sync`].
    pub fn finish_sync(&mut self) -> io::Result<()> {
        let Some(s) = self.syncer.as_mut().filter(|s| s.busy) else {
            return Ok(());
        };
        s.busy = false;
        let r = s
            .done
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the syncing thread stopped")));
        if let Err(e) = r {
            self.failed_sync(&e);
            return Err(e);
        }
        self.synced();
        Ok(())
    }

    /// After a sync: a log that is being written moves to prepared segments as soon as it
    /// can, and keeps its next segment prepared.
    fn synced(&mut self) {
        if !self.ahead && self.spare.as_ref().is_some_and(|s| s.is_finished()) {
            // The appends are durable whatever happens here: a failed move leaves the log in
            // its segment (or stopped, if the new name cannot be made durable).
            let _ = self.rotate();
        }
        self.prepare_spare();
    }

    /// Starts preparing the next segment on a thread, when segments are prepared and none is
    /// under way: one thread at a time, as a second would write zeros over the first's file
    /// after it became the log.
    fn prepare_spare(&mut self) {
        let s = self.settings;
        if !(s.sync && s.preallocate) || self.spare_failed || self.spare.is_some() {
            return;
        }
        let path = self.dir.join(SPARE);
        let bytes = self.settings.segment_bytes;
        let stop = self.stop_spare.clone();
        self.spare = std::thread::Builder::new()
            .name("vigil-wal-spare".into())
            .spawn(move || prepare(&path, bytes, &stop))
            .ok();
        self.spare_failed = self.spare.is_none();
    }

    /// Whether the prepared segment is ready, taking it if so; a failed one is removed (its
    /// space is the log's) and preparing stops.
    fn take_spare(&mut self) -> bool {
        if !self.spare.as_ref().is_some_and(|s| s.is_finished()) {
            return false;
        }
        let why = match self.spare.take().map(|s| s.join()) {
            Some(Ok(Ok(()))) => return true,
            Some(Ok(Err(e))) => e.to_string(),
            _ => "its thread stopped".to_string(),
        };
        self.spare_failed = true;
        let _ = fs::remove_file(self.dir.join(SPARE));
        crate::log::error(&format!(
            "write-ahead log: preparing the next segment failed ({why}); segments now grow as they are written"
        ));
        false
    }

    /// `fdatasync`, once: after a failure the kernel may have dropped the pages it could not
    /// write and a later sync would succeed without them, so the log refuses every append
    /// until a restart recovers what is really on disk.
    fn sync_now(&mut self) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        self.file.sync_data().inspect_err(|e| self.failed_sync(e))
    }

    fn failed_sync(&mut self, e: &io::Error) {
        self.broken = Some(format!(
            "a sync failed ({e}); nothing more is logged until the daemon restarts"
        ));
    }

    /// Starts a new segment (a full one, or to move to the prepared one): the prepared one
    /// when it is ready, else an empty file. A checkpoint deletes whole segments before the
    /// one it points into.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.sync_now()?;
        let next = self.dir.join(name(self.segment + 1));
        let ahead = self.take_spare() && fs::rename(self.dir.join(SPARE), &next).is_ok();
        self.file = Arc::new(
            OpenOptions::new()
                .create(true)
                .write(true)
                .read(true)
                .truncate(false)
                .open(&next)?,
        );
        self.segment += 1;
        self.len = 0;
        self.ahead = ahead;
        // The new name is durable before anything written under it is answered.
        if let Err(e) = sync_dir(&self.dir) {
            self.broken = Some(format!(
                "a new segment's name could not be synced ({e}); nothing more is logged until the daemon restarts"
            ));
            return Err(e);
        }
        self.prepare_spare();
        Ok(())
    }

    pub fn position(&self) -> Pos {
        Pos {
            segment: self.segment,
            offset: self.len,
        }
    }

    /// Deletes segments wholly before `pos` (a checkpoint covers them).
    pub fn drop_before(&mut self, pos: Pos) -> io::Result<()> {
        for seg in segments(&self.dir)? {
            if seg < pos.segment {
                fs::remove_file(self.dir.join(name(seg)))?;
            }
        }
        Ok(())
    }

    /// Bytes of the log's files on disk (zeros prepared ahead and the next segment included).
    pub fn bytes(&self) -> u64 {
        segments(&self.dir)
            .unwrap_or_default()
            .iter()
            .map(|s| name(*s))
            .chain([SPARE.to_string()])
            .filter_map(|n| fs::metadata(self.dir.join(n)).ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Drop for Wal {
    /// Stops preparing a segment (within one step), so no thread outlives the log.
    fn drop(&mut self) {
        self.stop_spare.store(true, Ordering::Relaxed);
        if let Some(s) = self.spare.take() {
            let _ = s.join();
        }
    }
}

/// Writes `bytes` zeros to `path` and syncs them, a step at a time, unless stopped.
fn prepare(path: &Path, bytes: u64, stop: &AtomicBool) -> io::Result<()> {
    let mut f = File::create(path)?;
    let zeros = vec![0u8; SPARE_STEP];
    let mut done = 0u64;
    while done < bytes {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped"));
        }
        let n = (bytes - done).min(SPARE_STEP as u64) as usize;
        f.write_all(&zeros[..n])?;
        f.sync_data()?;
        done += n as u64;
        if done < bytes {
            std::thread::sleep(SPARE_PAUSE);
        }
    }
    f.sync_all()
}

/// One entry from the front of `data` and the bytes it took, or why it is not one.
fn decode(data: &[u8]) -> Result<(Entry, usize), String> {
    if data.len() < HEADER {
        return Err(format!("torn entry header ({} bytes)", data.len()));
    }
    let len = u32::from_le_bytes(data[0..4].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(data[4..8].try_into().unwrap_or_default());
    if !(9..=MAX_ENTRY).contains(&len) {
        return Err(format!("impossible entry length {len}"));
    }
    if data.len() < HEADER + len {
        return Err(format!(
            "torn entry ({} of {} bytes)",
            data.len() - HEADER,
            len
        ));
    }
    let payload = &data[HEADER..HEADER + len];
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let now = i64::from_le_bytes(payload[0..8].try_into().unwrap_or_default());
    let text = || {
        std::str::from_utf8(&payload[9..])
            .map(str::to_string)
            .map_err(|_| "entry body is not UTF-8".to_string())
    };
    let body = match payload[8] {
        0 => Body::Lines(text()?),
        1 => Body::Ack(text()?),
        2 => Body::Backfill(text()?),
        3 => Body::Records(payload[9..].to_vec()),
        k => return Err(format!("unknown entry kind {k}")),
    };
    Ok((Entry { now, body }, HEADER + len))
}

/// Makes a directory's entries (new, renamed or deleted files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(now: i64, s: &str) -> Entry {
        Entry {
            now,
            body: Body::Lines(s.to_string()),
        }
    }

    fn synced(segment_bytes: u64) -> Settings {
        Settings {
            segment_bytes,
            sync: true,
            preallocate: true,
        }
    }

    fn unsynced(segment_bytes: u64) -> Settings {
        Settings {
            sync: false,
            ..synced(segment_bytes)
        }
    }

    /// The log in `dir`, opened from its start (what it reads is not looked at).
    fn fresh(dir: &Path, settings: Settings) -> Wal {
        Wal::open(dir, Pos::default(), settings, &mut |_| {})
            .unwrap()
            .0
    }

    fn read_all(dir: &Path, from: Pos) -> (Vec<Entry>, Recovery) {
        let mut got = Vec::new();
        let (_, rec) = Wal::open(dir, from, unsynced(1 << 20), &mut |e| got.push(e)).unwrap();
        (got, rec)
    }

    #[test]
    fn entries_survive_reopening_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), synced(64));
        let want: Vec<Entry> = (0..20).map(|i| lines(i, &format!("line {i}"))).collect();
        for e in &want {
            w.append(e.now, &e.body).unwrap();
        }
        w.append(99, &Body::<_, &[u8]>::Ack("{}")).unwrap();
        // Binary bodies are kept byte for byte (not read as text).
        w.append(100, &Body::<&str, _>::Records([0xff, 0, 3]))
            .unwrap();
        w.sync().unwrap();
        assert!(segments(dir.path()).unwrap().len() > 3, "rotated");
        drop(w);
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!(&got[..20], &want[..]);
        assert_eq!(got[20].body, Body::Ack("{}".into()));
        assert_eq!(got[21].body, Body::Records(vec![0xff, 0, 3]));
        assert!(rec.cuts.is_empty());
    }

    /// Every way of cutting the last entry short (a crash mid-append), and a flipped byte,
    /// leaves the entries before it; appending resumes after them.
    #[test]
    fn a_torn_or_damaged_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), unsynced(1 << 20));
        w.append(1, &Body::<_, &[u8]>::Lines("first")).unwrap();
        let keep = w.position();
        w.append(2, &Body::<_, &[u8]>::Lines("second entry"))
            .unwrap();
        let full = w.position();
        drop(w);
        let path = dir.path().join(name(keep.segment));
        let bytes = fs::read(&path).unwrap();
        for cut in keep.offset..full.offset {
            fs::write(&path, &bytes[..cut as usize]).unwrap();
            let (got, rec) = read_all(dir.path(), Pos::default());
            assert_eq!(got, vec![lines(1, "first")], "cut at {cut}");
            assert_eq!(
                rec.cuts.len(),
                usize::from(cut > keep.offset),
                "cut at {cut}"
            );
            assert_eq!(fs::metadata(&path).unwrap().len(), keep.offset);
        }
        let mut bad = bytes.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0x20;
        fs::write(&path, &bad).unwrap();
        let (mut w, rec) =
            Wal::open(dir.path(), Pos::default(), unsynced(1 << 20), &mut |_| {}).unwrap();
        assert_eq!(rec.cuts[0].2, "checksum mismatch");
        w.append(3, &Body::<_, &[u8]>::Lines("third")).unwrap();
        drop(w);
        let (got, _) = read_all(dir.path(), Pos::default());
        assert_eq!(got, vec![lines(1, "first"), lines(3, "third")]);
    }

    /// A write that fails (`/dev/full`: no space) and cannot be cut back, or a sync that
    /// fails, refuses every later append: recovery would stop at the damage and lose them.
    #[test]
    fn a_failed_write_or_sync_stops_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), synced(1 << 20));
        w.append(1, &Body::<_, &[u8]>::Lines("kept")).unwrap();
        w.sync().unwrap();
        // Linux's device whose writes fail with "no space left".
        let full = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let good = std::mem::replace(&mut w.file, Arc::new(full));
        let e = w.append(2, &Body::<_, &[u8]>::Lines("lost")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
        w.file = good;
        let e = w
            .append(3, &Body::<_, &[u8]>::Lines("refused"))
            .unwrap_err();
        assert!(e.to_string().contains("until the daemon restarts"), "{e}");
        assert!(w.sync().is_err() && w.rotate().is_err());
        drop(w);
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!((got, rec.cuts.len()), (vec![lines(1, "kept")], 0));
        // A sync that fails (a device that cannot sync) stops it as well.
        let mut w = fresh(dir.path(), synced(1 << 20));
        w.append(4, &Body::<_, &[u8]>::Lines("synced?")).unwrap();
        let good = std::mem::replace(&mut w.file, Arc::new(File::open("/dev/full").unwrap()));
        assert!(w.sync().is_err());
        w.file = good;
        let e = w
            .append(5, &Body::<_, &[u8]>::Lines("refused"))
            .unwrap_err();
        assert!(e.to_string().contains("a sync failed"), "{e}");
        // And one on the syncing thread: found when it is finished.
        let mut w = fresh(dir.path(), synced(1 << 20));
        w.append(6, &Body::<_, &[u8]>::Lines("synced?")).unwrap();
        let good = std::mem::replace(&mut w.file, Arc::new(File::open("/dev/full").unwrap()));
        let (tell, told) = std::sync::mpsc::channel();
        w.start_sync(Box::new(move |r| tell.send(r.is_ok()).unwrap()))
            .unwrap();
        assert!(w.syncing().is_some());
        assert!(w.finish_sync().is_err());
        // What follows the sync ran, with its failure.
        assert_eq!(told.try_recv(), Ok(false));
        assert!(w.syncing().is_none());
        w.file = good;
        let e = w
            .append(7, &Body::<_, &[u8]>::Lines("refused"))
            .unwrap_err();
        assert!(e.to_string().contains("a sync failed"), "{e}");
        let (tell, told) = std::sync::mpsc::channel();
        assert!(
            w.start_sync(Box::new(move |r| tell.send(r.is_ok()).unwrap()))
                .is_err()
        );
        assert_eq!(told.try_recv(), Ok(false));
    }

    /// A sync started on the syncing thread makes the appends before it durable; appends
    /// during it wait for the next one, and the log reads back whole.
    #[test]
    fn syncs_on_the_thread_cover_the_appends_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), synced(1 << 20));
        let mut want = Vec::new();
        for i in 0..50 {
            let text = format!("line {i}");
            w.append(i, &Body::<_, &[u8]>::Lines(text.as_str()))
                .unwrap();
            want.push(lines(i, &text));
            if i % 3 == 0 {
                w.start_sync(Box::new(|r| assert!(r.is_ok()))).unwrap();
            }
            if i % 7 == 0 {
                w.finish_sync().unwrap();
                assert!(w.syncing().is_none());
            }
        }
        // Dropped with a sync under way: the thread ends once it is done.
        w.start_sync(Box::new(|_| {})).unwrap();
        drop(w);
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!((got, rec.cuts.len()), (want, 0));
    }

    /// Waits (bounded) until the next segment is prepared.
    fn spare_ready(w: &Wal) {
        let t0 = std::time::Instant::now();
        while !w.spare.as_ref().is_some_and(|s| s.is_finished()) {
            assert!(t0.elapsed().as_secs() < 10, "no spare prepared");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// A synced log moves to a segment prepared as zeros, writes over them, reads their
    /// zeros as its end and resumes over them after a restart; the next one is prepared too.
    #[test]
    fn prepared_segments_end_at_their_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let size = 3 << 20;
        let mut w = fresh(dir.path(), synced(size));
        w.append(1, &Body::<_, &[u8]>::Lines("grown")).unwrap();
        w.sync().unwrap();
        assert!(!w.ahead);
        spare_ready(&w);
        w.append(2, &Body::<_, &[u8]>::Lines("over zeros")).unwrap();
        w.sync().unwrap();
        // The sync moved on to the prepared segment; the entry before it stays where it was.
        assert!(
            w.ahead
                && w.position()
                    == Pos {
                        segment: 2,
                        offset: 0
                    }
        );
        let seg = dir.path().join(name(2));
        assert_eq!(fs::metadata(&seg).unwrap().len(), size);
        w.append(3, &Body::<_, &[u8]>::Lines("third")).unwrap();
        w.sync().unwrap();
        let end = w.position();
        drop(w);
        let want = vec![lines(1, "grown"), lines(2, "over zeros"), lines(3, "third")];
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!((&got, rec.cuts.len()), (&want, 0));
        assert_eq!(fs::metadata(&seg).unwrap().len(), size, "zeros kept");
        let mut w = fresh(dir.path(), synced(size));
        assert!(w.ahead && w.position() == end);
        w.append(4, &Body::<_, &[u8]>::Lines("after a restart"))
            .unwrap();
        w.sync().unwrap();
        // Rotating takes the next prepared segment.
        spare_ready(&w);
        w.rotate().unwrap();
        assert!(w.ahead);
        assert_eq!(fs::metadata(dir.path().join(name(3))).unwrap().len(), size);
        w.append(5, &Body::<_, &[u8]>::Lines("fifth")).unwrap();
        drop(w);
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!(got.len(), 5);
        assert_eq!((&got[4], rec.cuts.len()), (&lines(5, "fifth"), 0));
    }

    /// Rotating while the next segment is still being prepared takes an empty file and
    /// leaves the one preparing thread at it: a second would write zeros into a file that
    /// has become the log.
    #[test]
    fn one_segment_is_prepared_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), synced(16 << 20));
        w.append(1, &Body::<_, &[u8]>::Lines("one")).unwrap();
        w.sync().unwrap();
        let thread = |w: &Wal| w.spare.as_ref().map(|s| s.thread().id());
        let first = thread(&w);
        assert!(first.is_some());
        for i in 2..5 {
            w.rotate().unwrap();
            w.append(i, &Body::<_, &[u8]>::Lines("more")).unwrap();
            w.sync().unwrap();
            if w.ahead {
                break;
            }
            assert_eq!(thread(&w), first, "a second thread started");
        }
        drop(w);
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert!(got.len() >= 2 && rec.cuts.is_empty());
    }

    /// When the next segment cannot be prepared (here its path is a folder), the log says so
    /// once and goes on in segments that grow as they are written.
    #[test]
    fn a_failed_preparation_leaves_growing_segments() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(SPARE)).unwrap();
        let mut w = fresh(dir.path(), synced(1 << 20));
        w.append(0, &Body::<_, &[u8]>::Lines("grows")).unwrap();
        w.sync().unwrap();
        spare_ready(&w);
        for i in 1..3 {
            w.append(i, &Body::<_, &[u8]>::Lines("grows")).unwrap();
            w.sync().unwrap();
        }
        assert!(w.spare_failed && !w.ahead && w.spare.is_none());
        w.append(3, &Body::<_, &[u8]>::Lines("still logged"))
            .unwrap();
        w.sync().unwrap();
        drop(w);
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!((got.len(), rec.cuts.len()), (4, 0));
    }

    /// A crash can leave a later unsynced block written and the one before it zeros, or part
    /// of an entry over zeros: both are cut off, the entries before them kept.
    #[test]
    fn damage_among_prepared_zeros_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let size = 1 << 20;
        let mut w = fresh(dir.path(), synced(size));
        w.append(1, &Body::<_, &[u8]>::Lines("grown")).unwrap();
        w.sync().unwrap();
        spare_ready(&w);
        w.append(2, &Body::<_, &[u8]>::Lines("kept")).unwrap();
        w.sync().unwrap();
        let keep = w.position();
        w.append(3, &Body::<_, &[u8]>::Lines("torn")).unwrap();
        let torn = w.position();
        drop(w);
        let path = dir.path().join(name(keep.segment));
        let whole = fs::read(&path).unwrap();
        let mut bytes = whole.clone();
        // The last entry's payload half gone: its header says more than the zeros hold.
        bytes[(torn.offset as usize - 3)..torn.offset as usize].fill(0);
        fs::write(&path, &bytes).unwrap();
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!(got, vec![lines(1, "grown"), lines(2, "kept")]);
        assert_eq!(rec.cuts[0].2, "checksum mismatch");
        assert_eq!(fs::metadata(&path).unwrap().len(), keep.offset);
        // Zeros where the last entry should start, and a byte written further on.
        let mut bytes = whole;
        bytes[keep.offset as usize..].fill(0);
        bytes[size as usize - 10] = 7;
        fs::write(&path, &bytes).unwrap();
        let (got, rec) = read_all(dir.path(), Pos::default());
        assert_eq!(got, vec![lines(1, "grown"), lines(2, "kept")]);
        assert_eq!(rec.cuts[0].2, "data after zeros");
        assert_eq!(fs::metadata(&path).unwrap().len(), keep.offset);
    }

    /// A checkpoint's position past the end of its segment (appends an OS crash lost, with
    /// syncing off) is reported, and the log goes on in the next segment, so nothing is
    /// written where a restart from that checkpoint would start reading.
    #[test]
    fn a_checkpoint_past_the_segment_end_starts_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), unsynced(1 << 20));
        w.append(1, &Body::<_, &[u8]>::Lines("kept")).unwrap();
        let kept = w.position();
        w.append(2, &Body::<_, &[u8]>::Lines("in the checkpoint"))
            .unwrap();
        let checkpoint = w.position();
        drop(w);
        let path = dir.path().join(name(checkpoint.segment));
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(kept.offset)
            .unwrap();
        let (mut w, rec) = Wal::open(dir.path(), checkpoint, unsynced(1 << 20), &mut |_| {
            panic!("nothing after the checkpoint")
        })
        .unwrap();
        assert!(rec.cuts[0].2.contains("the checkpoint covers are missing"));
        w.append(3, &Body::<_, &[u8]>::Lines("after")).unwrap();
        assert_eq!(w.position().segment, checkpoint.segment + 1);
        drop(w);
        let (got, rec) = read_all(dir.path(), checkpoint);
        assert_eq!(got, vec![lines(3, "after")]);
        assert!(rec.cuts.iter().all(|c| c.0 == checkpoint.segment));
    }

    #[test]
    fn reading_starts_at_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = fresh(dir.path(), unsynced(1 << 20));
        w.append(1, &Body::<_, &[u8]>::Lines("a")).unwrap();
        let at = w.position();
        w.append(2, &Body::<_, &[u8]>::Lines("b")).unwrap();
        w.rotate().unwrap();
        w.append(3, &Body::<_, &[u8]>::Lines("c")).unwrap();
        w.drop_before(at).unwrap();
        drop(w);
        let (got, _) = read_all(dir.path(), at);
        assert_eq!(got, vec![lines(2, "b"), lines(3, "c")]);
    }
}
