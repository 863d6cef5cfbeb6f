// SPDX-License-Identifier: GPL-2.0-only

//! The bookkeeping of Xen's records in ERST (`erst_tracker.rs`) against a
//! model of the firmware's store as Linux lists it
//! (drivers/acpi/apei/erst.c): a listing returns each id once, in store
//! order, then says it ended; reading or erasing a record that is gone
//! gives -ENOENT.
//!
//! Why one file of about 830 lines: its 19 tests run on one model of the
//! store, its listing and the log (`Store`, `Session`, `Vector`, `Log`),
//! and src/core/tests/ has one test binary per module under test.

use std::collections::{BTreeMap, VecDeque};
use xmc_core::erst::{CPER_CREATOR_MCE, CPER_SECTION_TYPE_MCE, MAX_RECORD_LEN};
use xmc_core::erst_tracker::*;
use xmc_core::record::XenRecord;

const EINTR: i32 = 4;
const EIO: i32 = 5;

/// The record Xen's `apei_write_mce` writes (layout as in erst.rs's tests).
fn xen_record(id: u64, bank: u8) -> Vec<u8> {
    let mut r = vec![0u8; 288];
    r[0..4].copy_from_slice(b"CPER");
    r[4..6].copy_from_slice(&0x0101u16.to_le_bytes());
    r[6..10].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
    r[10..12].copy_from_slice(&1u16.to_le_bytes());
    r[20..24].copy_from_slice(&288u32.to_le_bytes());
    r[64..80].copy_from_slice(&CPER_CREATOR_MCE);
    r[96..104].copy_from_slice(&id.to_le_bytes());
    r[128..132].copy_from_slice(&200u32.to_le_bytes());
    r[132..136].copy_from_slice(&88u32.to_le_bytes());
    r[144..160].copy_from_slice(&CPER_SECTION_TYPE_MCE);
    let m = &mut r[200..];
    m[0..8].copy_from_slice(&0xb600_0000_0000_0150u64.to_le_bytes());
    m[65] = bank;
    r
}

/// A record of dom0's pstore (a dmesg): the same creator GUID, section type
/// `CPER_SECTION_TYPE_DMESG`, longer.
fn pstore_record(id: u64) -> Vec<u8> {
    let mut r = xen_record(id, 0);
    r[144..160].copy_from_slice(&[
        0x4e, 0xe0, 0x97, 0xc1, 0x45, 0xd5, 0x70, 0x4a, 0x9c, 0x17, 0xa5, 0x54, 0x94, 0x19, 0xeb,
        0x12,
    ]);
    r.resize(400, b'x');
    r[20..24].copy_from_slice(&400u32.to_le_bytes());
    r
}

/// The firmware's store.
#[derive(Default)]
struct Store {
    records: BTreeMap<u64, Vec<u8>>,
    /// Results of the next erase calls (-errno), before the store's own.
    erase_errors: VecDeque<i32>,
    erase_calls: Vec<u64>,
}

impl Store {
    /// `foreign` pstore records (ids 1..), then Xen's `xen` (ids after).
    fn new(foreign: u64, xen: u64) -> Store {
        let mut s = Store::default();
        for id in 1..=foreign {
            s.records.insert(id, pstore_record(id));
        }
        for i in 0..xen {
            let id = 0x6b1c_0000_0000_0000 + i;
            s.records.insert(id, xen_record(id, i as u8));
        }
        s
    }

    fn listing(&self) -> Session<'_> {
        Session {
            store: self,
            ids: self.records.keys().copied().collect(),
            ended: false,
            said_ended: false,
        }
    }

    fn erase(&mut self, id: u64) -> Result<(), i32> {
        self.erase_calls.push(id);
        if let Some(e) = self.erase_errors.pop_front() {
            return Err(-e);
        }
        self.records.remove(&id).map(|_| ()).ok_or(-ENOENT)
    }

    fn xen_ids(&self) -> Vec<u64> {
        self.records
            .keys()
            .copied()
            .filter(|&id| id >= 0x6b1c_0000_0000_0000)
            .collect()
    }
}

/// One listing (erst_get_record_id_begin ... _end).
struct Session<'a> {
    store: &'a Store,
    ids: VecDeque<u64>,
    ended: bool,
    said_ended: bool,
}

impl Listing for Session<'_> {
    fn next_ids(&mut self, ids: &mut [u64]) -> Result<usize, i32> {
        // erst_get_record_id_next() BUG()s on a position that ended.
        assert!(!self.said_ended, "asked for ids after the listing ended");
        let mut n = 0;
        while n < ids.len() && !self.ended {
            match self.ids.pop_front() {
                Some(id) => {
                    ids[n] = id;
                    n += 1;
                }
                None => self.ended = true,
            }
        }
        self.said_ended = n == 0;
        Ok(n)
    }

    fn read(&mut self, id: u64, buf: &mut [u8]) -> Result<usize, i32> {
        let r = self.store.records.get(&id).ok_or(-ENOENT)?;
        if let Some(dst) = buf.get_mut(..r.len()) {
            dst.copy_from_slice(r);
        }
        Ok(r.len())
    }
}

/// The kernel's list, here a Vec.
#[derive(Default)]
struct Vector(Vec<Pending>);

impl List for Vector {
    fn as_slice(&self) -> &[Pending] {
        &self.0
    }
    fn as_mut_slice(&mut self) -> &mut [Pending] {
        &mut self.0
    }
    fn try_push(&mut self, p: Pending) -> bool {
        self.0.push(p);
        true
    }
    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

/// The log: records stored get sequence numbers from 0; the first `taken`
/// were read. `consumer`: the tracepoint has a consumer while records are
/// stored (they are traced to it).
struct Log {
    stored: Vec<u64>,
    room: usize,
    taken: u64,
    consumer: bool,
}

impl Log {
    fn new(room: usize) -> Log {
        Log {
            stored: Vec::new(),
            room,
            taken: 0,
            consumer: false,
        }
    }
}

/// Imports `store` with `chunk` ids per listing call; the events logged.
fn import(t: &mut Tracker<Vector>, store: &Store, log: &mut Log, chunk: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut ids = vec![0u64; chunk];
    let mut buf = [0u8; MAX_RECORD_LEN];
    t.import(
        &mut store.listing(),
        &mut ids,
        &mut buf,
        |id, saved| {
            assert_eq!(saved.record_id, id);
            if log.stored.len() == log.room {
                return None;
            }
            log.stored.push(id);
            Some(Stored {
                seq: log.stored.len() as u64 - 1,
                rec: XenRecord::default(),
                traced: log.consumer,
            })
        },
        |e| events.push(e),
    );
    events
}

fn erase(t: &mut Tracker<Vector>, store: &mut Store, log: &Log) -> Vec<Event> {
    let mut events = Vec::new();
    let taken = log.taken;
    t.erase_taken(|seq| seq < taken, |id| store.erase(id), |e| events.push(e));
    events
}

fn tracker() -> Tracker<Vector> {
    Tracker::new(Vector::default())
}

#[test]
fn finds_xens_records_among_pstores_and_erases_them_once_read() {
    let mut store = Store::new(3, 2);
    let xen = store.xen_ids();
    let (mut t, mut log) = (tracker(), Log::new(16));
    assert_eq!(import(&mut t, &store, &mut log, 64), []);
    assert_eq!(log.stored, xen);
    assert_eq!(t.outstanding(), 2);
    // Nothing read: nothing erased.
    assert_eq!(erase(&mut t, &mut store, &log), []);
    assert!(store.erase_calls.is_empty());
    log.taken = 1;
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 0,
            erst_id: xen[0],
            by: Delivery::Read,
        }]
    );
    assert_eq!(t.outstanding(), 1);
    assert_eq!(
        t.left(|seq| seq < 1),
        Left {
            undelivered: 1,
            unerased: 0
        }
    );
    log.taken = 2;
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 1,
            erst_id: xen[1],
            by: Delivery::Read,
        }]
    );
    assert_eq!(store.erase_calls, xen);
    assert_eq!(store.records.len(), 3, "pstore's records untouched");
    assert_eq!(t.outstanding(), 0);
    assert_eq!(t.left(|_| true), Left::default());
    assert_eq!(
        t.counts(),
        Counts {
            imported: 2,
            pending: 0,
            erased: 2,
            given_up: 0
        }
    );
}

#[test]
fn a_record_erased_meanwhile_is_forgotten_quietly() {
    let mut store = Store::new(0, 1);
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    store.records.clear(); // systemd-pstore archived it
    log.taken = 1;
    assert_eq!(erase(&mut t, &mut store, &log), []);
    assert_eq!(store.erase_calls.len(), 1);
    assert_eq!(t.outstanding(), 0);
    assert_eq!(erase(&mut t, &mut store, &log), []);
    assert_eq!(store.erase_calls.len(), 1);
    // Gone from ERST after its delivery: counted as erased, once.
    assert_eq!((t.counts().erased, t.counts().pending), (1, 0));
}

/// Xen's records stored behind more than 64 of dom0's own pstore records
/// (ids are in store order): the whole listing is looked at, whatever the
/// number of ids asked for per call (the module asks for 64).
#[test]
fn finds_xens_records_behind_a_hundred_pstore_records() {
    for chunk in [64, 1, 7, 200] {
        let mut store = Store::new(100, 2);
        let xen = store.xen_ids();
        let (mut t, mut log) = (tracker(), Log::new(16));
        assert_eq!(import(&mut t, &store, &mut log, chunk), [], "chunk {chunk}");
        assert_eq!(log.stored, xen, "chunk {chunk}");
        assert_eq!(t.outstanding(), 2);
        log.taken = 2;
        assert_eq!(
            erase(&mut t, &mut store, &log),
            [
                Event::Erased {
                    seq: 0,
                    erst_id: xen[0],
                    by: Delivery::Read,
                },
                Event::Erased {
                    seq: 1,
                    erst_id: xen[1],
                    by: Delivery::Read,
                }
            ]
        );
        assert_eq!(store.erase_calls, xen);
        assert!(store.xen_ids().is_empty());
        assert_eq!(store.records.len(), 100, "pstore's records untouched");
        assert_eq!(t.outstanding(), 0);
    }
}

/// erst_clear takes Linux's id-cache lock with mutex_lock_interruptible
/// (drivers/acpi/apei/erst.c): with a signal pending it fails with -EINTR.
/// The record stays pending and the next drain erases it, once, with one
/// line.
#[test]
fn an_interrupted_erase_is_retried() {
    let mut store = Store::new(2, 1);
    let id = store.xen_ids()[0];
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    log.taken = 1;
    store.erase_errors.push_back(EINTR);
    assert_eq!(erase(&mut t, &mut store, &log), [], "not worth a line yet");
    assert_eq!(store.erase_calls, [id]);
    assert_eq!(t.outstanding(), 1, "still pending");
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 0,
            erst_id: id,
            by: Delivery::Read,
        }]
    );
    assert!(store.xen_ids().is_empty());
    assert_eq!(t.outstanding(), 0);
    for _ in 0..3 {
        assert_eq!(erase(&mut t, &mut store, &log), []);
    }
    assert_eq!(store.erase_calls, [id, id], "erased exactly once");
    assert_eq!(t.left(|_| true), Left::default());
}

/// An erase that keeps failing is tried a bounded number of times, said
/// once, and the record stays in ERST for the next load.
#[test]
fn a_permanent_erase_error_gives_up_with_one_line() {
    let mut store = Store::new(0, 2);
    let xen = store.xen_ids();
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    log.taken = 1;
    store.erase_errors.extend([EIO; 1000]);
    let mut events = Vec::new();
    for _ in 0..50 {
        events.extend(erase(&mut t, &mut store, &log));
    }
    let attempts = store.erase_calls.len();
    assert!((2..=10).contains(&attempts), "{attempts} attempts");
    assert!(store.erase_calls.iter().all(|&id| id == xen[0]));
    assert_eq!(
        events,
        [Event::EraseGaveUp {
            seq: 0,
            erst_id: xen[0],
            error: -EIO
        }]
    );
    assert_eq!(t.outstanding(), 1, "the unread record still needs work");
    assert_eq!(
        t.counts(),
        Counts {
            imported: 2,
            pending: 1,
            erased: 0,
            given_up: 1
        }
    );
    assert_eq!(
        t.left(|seq| seq < 1),
        Left {
            undelivered: 1,
            unerased: 1
        }
    );
    // The other record is read later: erased, with its own line.
    store.erase_errors.clear();
    log.taken = 2;
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 1,
            erst_id: xen[1],
            by: Delivery::Read,
        }]
    );
    assert_eq!(
        store.erase_calls.len(),
        attempts + 1,
        "no more attempts on the first"
    );
    assert_eq!(t.outstanding(), 0);
    assert_eq!(
        t.counts(),
        Counts {
            imported: 2,
            pending: 0,
            erased: 1,
            given_up: 1
        }
    );
    // The next load delivers the record that could not be erased.
    let (mut next, mut log) = (tracker(), Log::new(16));
    import(&mut next, &store, &mut log, 64);
    assert_eq!(log.stored, [xen[0]]);
}

/// rmmod with a signal pending: the last erase at unload is interrupted,
/// and what stays in ERST is said at unload.
#[test]
fn an_erase_interrupted_at_unload_stays_for_the_next_load() {
    let mut store = Store::new(0, 3);
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    log.taken = 2;
    store.erase_errors.extend([EINTR; 2]);
    assert_eq!(erase(&mut t, &mut store, &log), []);
    assert_eq!(store.xen_ids().len(), 3);
    assert_eq!(
        t.left(|seq| seq < 2),
        Left {
            undelivered: 1,
            unerased: 2
        }
    );
}

#[test]
fn a_full_log_leaves_the_rest_in_erst() {
    let store = Store::new(1, 3);
    let xen = store.xen_ids();
    let (mut t, mut log) = (tracker(), Log::new(2));
    assert_eq!(
        import(&mut t, &store, &mut log, 64),
        [Event::LogFull { erst_id: xen[2] }]
    );
    assert_eq!(t.outstanding(), 2);
    assert_eq!(
        t.left(|_| false),
        Left {
            undelivered: 2,
            unerased: 0
        }
    );
}

#[test]
fn listing_errors() {
    struct Failing(i32);
    impl Listing for Failing {
        fn next_ids(&mut self, _: &mut [u64]) -> Result<usize, i32> {
            Err(self.0)
        }
        fn read(&mut self, _: u64, _: &mut [u8]) -> Result<usize, i32> {
            unreachable!()
        }
    }
    let mut events = Vec::new();
    let mut t = tracker();
    for e in [-ENODEV, -EINTR] {
        t.import(
            &mut Failing(e),
            &mut [0; 8],
            &mut [0; MAX_RECORD_LEN],
            |_, _| unreachable!(),
            |e| events.push(e),
        );
    }
    // No ERST is not worth a line; an interrupted listing is.
    assert_eq!(events, [Event::ListFailed(-EINTR)]);
    assert_eq!(t.outstanding(), 0);
}

#[test]
fn no_memory_to_track_a_record() {
    let store = Store::new(0, 1);
    let mut t = Tracker::new(Full);
    let mut events = Vec::new();
    t.import(
        &mut store.listing(),
        &mut [0; 8],
        &mut [0; MAX_RECORD_LEN],
        |_, _| {
            Some(Stored {
                seq: 7,
                ..Stored::default()
            })
        },
        |e| events.push(e),
    );
    assert_eq!(
        events,
        [Event::Untracked {
            seq: 7,
            erst_id: store.xen_ids()[0]
        }]
    );
    // Not tracked, so never known delivered: the drain keeps it (and
    // everything behind it) for a reader.
    assert_eq!(t.settled_end(), 7);
}

/// rasdaemon is the only consumer: it starts after the module loaded, so
/// nothing reads the device and the event had no consumer at load. When the
/// event gets its consumer, each record is traced once; then it counts as
/// delivered and is erased.
#[test]
fn records_are_traced_once_for_a_consumer_that_comes_later_then_erased() {
    let mut store = Store::new(1, 2);
    let xen = store.xen_ids();
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    assert!(t.untraced());
    for _ in 0..3 {
        assert_eq!(erase(&mut t, &mut store, &log), [], "not delivered yet");
    }
    assert!(store.erase_calls.is_empty());
    assert_eq!(
        t.left(|_| false),
        Left {
            undelivered: 2,
            unerased: 0
        }
    );
    let (mut traced, mut events) = (Vec::new(), Vec::new());
    t.trace_untraced(
        |seq, _| {
            traced.push(seq);
            true
        },
        |e| events.push(e),
    );
    assert_eq!(traced, [0, 1]);
    assert_eq!(
        events,
        [
            Event::Traced {
                seq: 0,
                erst_id: xen[0]
            },
            Event::Traced {
                seq: 1,
                erst_id: xen[1]
            }
        ]
    );
    assert!(!t.untraced());
    // A second consumer (or the same one again) gets nothing twice.
    t.trace_untraced(
        |seq, _| {
            traced.push(seq);
            true
        },
        |e| events.push(e),
    );
    assert_eq!(traced, [0, 1]);
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [
            Event::Erased {
                seq: 0,
                erst_id: xen[0],
                by: Delivery::Traced
            },
            Event::Erased {
                seq: 1,
                erst_id: xen[1],
                by: Delivery::Traced
            }
        ]
    );
    assert!(store.xen_ids().is_empty());
    assert_eq!(store.records.len(), 1, "pstore's record untouched");
    assert_eq!(t.outstanding(), 0);
    assert_eq!(t.left(|_| false), Left::default());
}

/// The event had a consumer when the records were stored (traced at load,
/// e.g. enabled with `:mod:xen_mcelog` before modprobe): delivered already,
/// erased without being read and never traced again.
#[test]
fn records_traced_at_load_to_a_consumer_are_delivered() {
    let mut store = Store::new(0, 1);
    let id = store.xen_ids()[0];
    let (mut t, mut log) = (tracker(), Log::new(16));
    log.consumer = true;
    import(&mut t, &store, &mut log, 64);
    assert!(!t.untraced());
    let mut traced = 0;
    t.trace_untraced(
        |_, _| {
            traced += 1;
            true
        },
        |_| {},
    );
    assert_eq!(traced, 0);
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 0,
            erst_id: id,
            by: Delivery::Traced
        }]
    );
}

/// A record read from the device and traced later (a consumer came after
/// the read but before a failed erase was retried) is erased once, as read.
#[test]
fn a_record_both_read_and_traced_is_erased_once() {
    let mut store = Store::new(0, 1);
    let id = store.xen_ids()[0];
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    log.taken = 1;
    store.erase_errors.push_back(EINTR);
    assert_eq!(erase(&mut t, &mut store, &log), []);
    t.trace_untraced(|_, _| true, |_| {});
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 0,
            erst_id: id,
            by: Delivery::Read
        }]
    );
    assert_eq!(store.erase_calls, [id, id]);
}

/// The consumer went away while the records were traced: the one it may
/// not have got and those after it stay untraced (not delivered, not
/// erased) for the next consumer.
#[test]
fn a_consumer_that_goes_away_leaves_the_rest_untraced() {
    let mut store = Store::new(0, 3);
    let xen = store.xen_ids();
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    let mut calls = 0;
    t.trace_untraced(
        |_, _| {
            calls += 1;
            calls < 2
        },
        |_| {},
    );
    assert_eq!(
        calls, 2,
        "stops at the first record that may not have arrived"
    );
    assert_eq!(
        erase(&mut t, &mut store, &log),
        [Event::Erased {
            seq: 0,
            erst_id: xen[0],
            by: Delivery::Traced
        }]
    );
    assert!(t.untraced());
    let mut traced = Vec::new();
    t.trace_untraced(
        |seq, _| {
            traced.push(seq);
            true
        },
        |_| {},
    );
    assert_eq!(traced, [1, 2]);
}

/// A list with no room: every record found is one the module cannot track.
struct Full;

impl List for Full {
    fn as_slice(&self) -> &[Pending] {
        &[]
    }
    fn as_mut_slice(&mut self) -> &mut [Pending] {
        &mut []
    }
    fn try_push(&mut self, _: Pending) -> bool {
        false
    }
    fn truncate(&mut self, _: usize) {}
}

// The listing itself: bounded, never asked again after its end.

/// A listing of `len` ids (`None`: it never ends) that all read as
/// erased; counts the ids it handed out and the calls after its end.
struct Ids {
    len: Option<usize>,
    given: usize,
    said_ended: bool,
    after_end: usize,
    /// Claims more ids than asked for.
    overclaim: usize,
}

impl Ids {
    fn new(len: Option<usize>) -> Ids {
        Ids {
            len,
            given: 0,
            said_ended: false,
            after_end: 0,
            overclaim: 0,
        }
    }
}

impl Listing for Ids {
    fn next_ids(&mut self, ids: &mut [u64]) -> Result<usize, i32> {
        if self.said_ended {
            self.after_end += 1;
        }
        let left = self.len.map_or(usize::MAX, |l| l - self.given);
        let n = ids.len().min(left);
        for (i, id) in ids.iter_mut().take(n).enumerate() {
            *id = (self.given + i) as u64;
        }
        self.given += n;
        self.said_ended = n == 0;
        Ok(n + if n > 0 { self.overclaim } else { 0 })
    }

    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<usize, i32> {
        Err(-ENOENT)
    }
}

fn scan(listing: &mut Ids, chunk: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut ids = std::vec![0u64; chunk];
    Tracker::new(Full).import(
        listing,
        &mut ids,
        &mut [0; 8],
        |_, _| unreachable!(),
        |e| events.push(e),
    );
    events
}

#[test]
fn a_listing_that_never_ends_is_bounded() {
    for chunk in [1, 64, 1000, 5000] {
        let mut l = Ids::new(None);
        assert_eq!(scan(&mut l, chunk), [Event::TooMany], "chunk {chunk}");
        assert_eq!(l.given, MAX_SCAN_IDS + 1, "chunk {chunk}");
    }
}

#[test]
fn a_listing_of_exactly_the_bound_is_not_too_many() {
    let mut l = Ids::new(Some(MAX_SCAN_IDS));
    assert_eq!(scan(&mut l, 64), []);
    assert_eq!(l.given, MAX_SCAN_IDS);
    assert_eq!(l.after_end, 0);
}

#[test]
fn never_asks_again_after_the_end_and_never_trusts_a_count() {
    for len in [0, 1, 63, 64, 65, 130] {
        let mut l = Ids::new(Some(len));
        l.overclaim = 1000;
        assert_eq!(scan(&mut l, 64), [], "len {len}");
        assert_eq!((l.given, l.after_end), (len, 0), "len {len}");
    }
}

#[test]
fn no_scratch_no_scan() {
    let mut l = Ids::new(None);
    assert_eq!(scan(&mut l, 0), []);
    assert_eq!(l.given, 0);
}

/// What the drain may treat as delivered (`Tracker::settled_end`): the
/// records below the first one the tracker still waits on, all of them once
/// every one is erased or given up.
#[test]
fn settled_end_follows_delivery_and_erasure() {
    let mut store = Store::new(1, 3);
    let (mut t, mut log) = (tracker(), Log::new(16));
    assert_eq!(t.settled_end(), 0, "nothing imported");
    import(&mut t, &store, &mut log, 64);
    assert_eq!(t.settled_end(), 0, "none delivered yet");
    // Read the first: erased, settled.
    log.taken = 1;
    erase(&mut t, &mut store, &log);
    assert_eq!(t.settled_end(), 1);
    // The others traced, the erase of the second failing: it is delivered
    // but still waits (taken out of the log before its erase it would be
    // counted as read), so nothing past it.
    t.trace_untraced(|_, _| true, |_| {});
    store.erase_errors.extend([EIO; 1]);
    erase(&mut t, &mut store, &log);
    assert_eq!(t.settled_end(), 1);
    erase(&mut t, &mut store, &log);
    assert_eq!(t.settled_end(), 3, "all erased");
    assert_eq!(t.outstanding(), 0);
}

#[test]
fn settled_end_counts_given_up_records_as_delivered() {
    let mut store = Store::new(0, 2);
    let (mut t, mut log) = (tracker(), Log::new(16));
    import(&mut t, &store, &mut log, 64);
    t.trace_untraced(|_, _| true, |_| {});
    store.erase_errors.extend([EIO; 1000]);
    for _ in 0..50 {
        erase(&mut t, &mut store, &log);
    }
    assert_eq!(t.counts().given_up, 2);
    assert_eq!(t.settled_end(), 2);
}
