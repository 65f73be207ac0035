//! A small, dependency-free mutation fuzzer that runs on stable Rust (see "Fuzzing" in
//! ARCHITECTURE.md for why not `cargo fuzz`).
//!
//! Shared by the smoke test (`tests/fuzz_smoke.rs`, a few seconds per target inside
//! `cargo test`) and the long-run example (`cargo run --example fuzz -- <target> <seconds>`),
//! both of which include this file and `targets.rs` with `#[path]`.
//!
//! - Inputs start from the committed seed corpus `fuzz/corpus/<target>/` (every file there is
//!   replayed first, so a saved crash is a regression test), then are mutated by a seeded
//!   xorshift generator: bit flips, interesting bytes and integers, length-field arithmetic,
//!   inserts, deletes, duplications, splices with other corpus entries, dictionary tokens and
//!   numeric-text replacements (`1e999`, `18446744073709551616`, `NaN` …), 1–6 stacked per input.
//! - A target returns `Ok(class)` (a path-free description of what happened) or `Err(oracle
//!   violation)`. An input whose class is new joins the in-memory corpus: a cheap stand-in for
//!   coverage feedback.
//! - Each input runs under `catch_unwind`, a per-input time limit (a watchdog thread saves the
//!   input as `timeout-*` and exits the process) and a memory limit (a counting global
//!   allocator: the peak growth during one input over the limit is a failure; a single request
//!   over [`HARD_ALLOC_CAP`] is refused, which aborts).
//! - A failing input is written to `fuzz/artifacts/<target>/<kind>-<hash>`.
#![allow(dead_code, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Memory accounting

/// A global allocator that counts live bytes and the peak since the last reset. Declare it in
/// the binary: `#[global_allocator] static A: harness::CountingAlloc = harness::CountingAlloc;`.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// One allocation request larger than this is refused (the process then aborts with
/// "memory allocation of N bytes failed"; the long runner keeps the input in `last-input`).
pub const HARD_ALLOC_CAP: usize = 2 << 30;

/// Most the requested heap may grow while one input runs. Above the `tiff` crate's 256 MiB:
/// it reserves up to its default `decoding_buffer_size` for one tag's values (as declared by
/// the tag's count) before reading them, even in a 264-byte file (fuzz/corpus/image/
/// found-tiff-tag-reserve.tif). That is address space, not memory: the values are never
/// written, and the resident size of such a probe is that of a normal TIFF (measured).
pub const MEM_LIMIT: usize = 320 << 20;

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_ALLOC_CAP {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_ALLOC_CAP {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_ALLOC_CAP {
            return std::ptr::null_mut();
        }
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

// ---------------------------------------------------------------------------------------------
// Random numbers and mutation

/// xorshift64*: deterministic, so a run is reproduced by its seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 2, 7, 8, 0x0F, 0x10, 0x20, 0x7F, 0x80, 0xFE, 0xFF, b'0', b'9', b'-', b'.', b'"', b'\\',
    b'{', b'}', b'[', b']', b',', b':', b'=', b'\n', b'#',
];

const INTERESTING_INTS: &[u64] = &[
    0,
    1,
    2,
    8,
    16,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 7,
];

/// Replacements for a run of ASCII digits (numbers in JSON and TOML text).
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "-0",
    "0.0",
    "-0.0",
    "0.5",
    "1.0000001",
    "3",
    "10",
    "1e308",
    "1e999",
    "-1e999",
    "1e-999",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "255",
    "256",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
];

/// Applies 1–6 random mutations to `data` (never longer than `max_len`).
pub fn mutate(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    corpus: &[Vec<u8>],
    dict: &[&[u8]],
    max_len: usize,
) {
    let most = if rng.chance(4) { 6 } else { 2 };
    let rounds = 1 + rng.below(most);
    for _ in 0..rounds {
        mutate_once(rng, data, corpus, dict);
    }
    data.truncate(max_len);
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&[u8]]) {
    let len = data.len();
    let pos = |rng: &mut Rng| rng.below(len.max(1));
    match rng.below(14) {
        // Bit flip.
        0 if len > 0 => {
            let p = pos(rng);
            data[p] ^= 1 << rng.below(8);
        }
        // Random byte.
        1 if len > 0 => {
            let p = pos(rng);
            data[p] = rng.next() as u8;
        }
        // Interesting byte.
        2 if len > 0 => {
            let p = pos(rng);
            data[p] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        }
        // Insert random bytes.
        3 => {
            let p = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes = rng.bytes(n);
            data.splice(p..p, bytes);
        }
        // Delete a range.
        4 if len > 0 => {
            let p = pos(rng);
            let n = 1 + rng.below((len - p).min(64));
            data.drain(p..p + n);
        }
        // Duplicate a range somewhere else.
        5 if len > 0 => {
            let p = pos(rng);
            let n = 1 + rng.below((len - p).min(64));
            let chunk = data[p..p + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, chunk);
        }
        // Interesting integer, 1/2/4/8 bytes, either byte order.
        6 if len > 0 => {
            let v = INTERESTING_INTS[rng.below(INTERESTING_INTS.len())];
            let v = if rng.chance(3) { v.wrapping_neg() } else { v };
            write_int(rng, data, v);
        }
        // Length-field arithmetic: add or subtract a little from an integer in place.
        7 if len > 0 => {
            let width = [1usize, 2, 4, 8][rng.below(4)].min(len);
            let p = rng.below(len - width + 1);
            let be = rng.chance(2);
            let mut v = read_uint(&data[p..p + width], be);
            let delta = 1 + rng.below(35) as u64;
            v = if rng.chance(2) {
                v.wrapping_add(delta)
            } else {
                v.wrapping_sub(delta)
            };
            put_uint(&mut data[p..p + width], v, be);
        }
        // Dictionary token, inserted or overwriting.
        8 | 9 if !dict.is_empty() => {
            let token = dict[rng.below(dict.len())];
            let p = rng.below(len + 1);
            if rng.chance(2) || p + token.len() > len {
                data.splice(p..p, token.iter().copied());
            } else {
                data[p..p + token.len()].copy_from_slice(token);
            }
        }
        // Splice with another corpus entry.
        10 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            let a = rng.below(len + 1);
            let b = rng.below(other.len() + 1);
            data.truncate(a);
            data.extend_from_slice(&other[b..]);
        }
        // Truncate.
        11 if len > 0 => {
            data.truncate(pos(rng));
        }
        // Replace a run of ASCII digits with an interesting number.
        12 | 13 if len > 0 => {
            let start = pos(rng);
            if let Some(off) = data[start..].iter().position(|b| b.is_ascii_digit()) {
                let s = start + off;
                let mut e = s;
                while e < len && (data[e].is_ascii_digit() || data[e] == b'.') {
                    e += 1;
                }
                let n = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())];
                data.splice(s..e, n.bytes());
            } else {
                let p = rng.below(len + 1);
                let n = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())];
                data.splice(p..p, n.bytes());
            }
        }
        _ => {
            let p = rng.below(len + 1);
            data.insert(p, rng.next() as u8);
        }
    }
}

fn read_uint(b: &[u8], be: bool) -> u64 {
    let mut v = 0u64;
    if be {
        for &x in b {
            v = (v << 8) | u64::from(x);
        }
    } else {
        for &x in b.iter().rev() {
            v = (v << 8) | u64::from(x);
        }
    }
    v
}

fn put_uint(b: &mut [u8], mut v: u64, be: bool) {
    let n = b.len();
    for i in 0..n {
        let idx = if be { n - 1 - i } else { i };
        b[idx] = v as u8;
        v >>= 8;
    }
}

fn write_int(rng: &mut Rng, data: &mut [u8], v: u64) {
    let width = [1usize, 2, 4, 8][rng.below(4)].min(data.len());
    let p = rng.below(data.len() - width + 1);
    let be = rng.chance(2);
    put_uint(&mut data[p..p + width], v, be);
}

// ---------------------------------------------------------------------------------------------
// Targets and runs

/// Per-target scratch space: a private temporary folder reused by every input.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("verity-fuzz-")
                .tempdir()
                .expect("temporary folder for fuzzing"),
        }
    }
    /// Writes `data` to `<scratch>/<name>` and returns the path.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data).expect("write fuzz input");
        path
    }
}

/// A fuzz target: `run` returns a path-free class of the outcome, or an oracle violation.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&Scratch, &[u8]) -> Result<String, String>,
    /// Tokens the mutator inserts (magic numbers, keys, chunk names).
    pub dict: &'static [&'static [u8]],
    /// Optional repair after mutation (e.g. a length field or checksum), applied to half the
    /// inputs so that mutants also get past the first integrity check.
    pub fixup: Option<fn(&mut [u8])>,
    pub max_len: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Mutated inputs to run after the corpus (None = until `duration`).
    pub iterations: Option<u64>,
    pub duration: Duration,
    pub per_input: Duration,
    /// Most the live heap may grow while one input runs.
    pub mem_limit: usize,
    /// Where failing inputs are written.
    pub artifacts: PathBuf,
    /// Stop at the first failure (smoke) or go on collecting distinct ones (long runs).
    pub stop_on_failure: bool,
    /// Write each input to `<artifacts>/last-input` before running it (survives an abort).
    pub keep_last: bool,
    /// Save inputs with a new outcome class here (long runs that grow the corpus).
    pub save_new: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub artifact: PathBuf,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub corpus_replayed: usize,
    pub iterations: u64,
    pub classes: usize,
    pub elapsed: Duration,
    pub max_input_time: Duration,
    pub max_mem_growth: usize,
    pub failures: Vec<Failure>,
}

/// The committed seed corpus of a target (sorted by file name; hidden files skipped).
pub fn load_corpus(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

pub fn fnv(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// Panics inside a target are caught; their message is kept here instead of being printed.
thread_local! {
    static IN_TARGET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

fn install_panic_hook() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TARGET.with(|t| t.get()) {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                *PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("{payload}{at}"));
            } else {
                previous(info);
            }
        }));
    });
}

/// What the watchdog knows about the input now running.
struct Running {
    started: Instant,
    limit: Duration,
    target: &'static str,
    input: Vec<u8>,
    artifacts: PathBuf,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

fn start_watchdog() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(50));
            let guard = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = guard.as_ref() {
                if r.started.elapsed() > r.limit {
                    let path = save_artifact(&r.artifacts, "timeout", &r.input);
                    eprintln!(
                        "fuzz {}: an input ran longer than {:?} (hang?); saved at {}",
                        r.target,
                        r.limit,
                        path.display()
                    );
                    std::process::exit(3);
                }
            }
        });
    });
}

fn save_artifact(dir: &Path, kind: &str, input: &[u8]) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{kind}-{:016x}", fnv(input)));
    let _ = std::fs::write(&path, input);
    path
}

/// Runs one input with all the guards; `Ok(class)` or a failure (kind, message).
fn run_one(
    target: &Target,
    scratch: &Scratch,
    input: &[u8],
    cfg: &Config,
    stats: &mut Stats,
) -> Result<String, (&'static str, String)> {
    if cfg.keep_last {
        let _ = std::fs::create_dir_all(&cfg.artifacts);
        let _ = std::fs::write(cfg.artifacts.join("last-input"), input);
    }
    *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running {
        started: Instant::now(),
        limit: cfg.per_input,
        target: target.name,
        input: input.to_vec(),
        artifacts: cfg.artifacts.clone(),
    });
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t0 = Instant::now();
    IN_TARGET.with(|t| t.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(scratch, input)));
    IN_TARGET.with(|t| t.set(false));
    let took = t0.elapsed();
    *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let growth = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    stats.max_input_time = stats.max_input_time.max(took);
    stats.max_mem_growth = stats.max_mem_growth.max(growth);
    match result {
        Err(_) => {
            let msg = PANIC_MESSAGE
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| "panic".into());
            Err(("panic", msg))
        }
        Ok(Err(violation)) => Err(("oracle", violation)),
        Ok(Ok(_)) if growth > cfg.mem_limit => Err((
            "memory",
            format!(
                "the heap grew by {} MiB for one input (limit {} MiB)",
                growth >> 20,
                cfg.mem_limit >> 20
            ),
        )),
        Ok(Ok(class)) => Ok(class),
    }
}

/// Replays the corpus, then mutates for `cfg.iterations` inputs or `cfg.duration`.
pub fn fuzz(target: &Target, corpus: &[(String, Vec<u8>)], cfg: &Config) -> Stats {
    install_panic_hook();
    start_watchdog();
    let scratch = Scratch::new();
    let mut stats = Stats::default();
    let mut rng = Rng::new(cfg.seed ^ fnv(target.name.as_bytes()));
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut classes: HashSet<String> = HashSet::new();
    let mut seen_failures: HashSet<String> = HashSet::new();
    let t0 = Instant::now();

    let mut record = |stats: &mut Stats, input: &[u8], kind: &'static str, message: String| {
        // One artifact per distinct message (digits ignored), so a long run is not flooded.
        // (digits and what follows the first quote or parenthesis ignored).
        let key: String = message
            .chars()
            .take_while(|c| !matches!(c, '"' | '(' | '{'))
            .filter(|c| !c.is_ascii_digit())
            .take(100)
            .collect();
        if seen_failures.insert(format!("{kind}:{key}")) {
            let artifact = save_artifact(&cfg.artifacts, kind, input);
            stats.failures.push(Failure {
                kind,
                message,
                artifact,
            });
        }
    };

    for (name, input) in corpus {
        match run_one(target, &scratch, input, cfg, &mut stats) {
            Ok(class) => {
                classes.insert(class);
            }
            Err((kind, message)) => {
                record(
                    &mut stats,
                    input,
                    kind,
                    format!("corpus file {name}: {message}"),
                );
                if cfg.stop_on_failure {
                    stats.elapsed = t0.elapsed();
                    return stats;
                }
            }
        }
        stats.corpus_replayed += 1;
        pool.push(input.clone());
    }
    if pool.is_empty() {
        pool.push(Vec::new());
    }

    let seeds = pool.len();
    loop {
        if cfg.iterations.is_some_and(|n| stats.iterations >= n) || t0.elapsed() >= cfg.duration {
            break;
        }
        // Seeds are picked as often as all the grown entries together.
        let base = if rng.chance(2) || pool.len() == seeds {
            &pool[rng.below(seeds)]
        } else {
            &pool[seeds + rng.below(pool.len() - seeds)]
        };
        let mut input = base.clone();
        mutate(&mut rng, &mut input, &pool, target.dict, target.max_len);
        if let Some(fix) = target.fixup {
            if rng.chance(2) {
                fix(&mut input);
            }
        }
        stats.iterations += 1;
        match run_one(target, &scratch, &input, cfg, &mut stats) {
            Ok(class) => {
                if classes.insert(class) {
                    if let Some(dir) = &cfg.save_new {
                        let _ = std::fs::create_dir_all(dir);
                        let _ =
                            std::fs::write(dir.join(format!("grown-{:016x}", fnv(&input))), &input);
                    }
                    if pool.len() < 4096 {
                        pool.push(input);
                    }
                }
            }
            Err((kind, message)) => {
                record(&mut stats, &input, kind, message);
                if cfg.stop_on_failure {
                    break;
                }
            }
        }
    }
    stats.classes = classes.len();
    stats.elapsed = t0.elapsed();
    stats
}

/// Whether an error message names the file the analyst gave (every input error must).
pub fn names(message: &str, path: &Path) -> Result<(), String> {
    if message.contains(&path.display().to_string()) {
        Ok(())
    } else {
        Err(format!(
            "error does not name the file {}: {message}",
            path.display()
        ))
    }
}

/// A path-free, digit-free, bounded description of an error (its first line), for outcome
/// classes.
pub fn class_of(message: &str, path: &Path) -> String {
    let text = message.replace(&path.display().to_string(), "<file>");
    let text = text.lines().next().unwrap_or_default();
    let mut out = String::new();
    let mut last_digit = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
        if out.len() >= 160 {
            break;
        }
    }
    out
}
