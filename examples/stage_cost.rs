//! The CPU cost of each stage of a backup, for the performance model of issue 17
//! (docs/performance.md, "Cost model"): CPU-seconds per GB, each stage alone on this thread, over
//! one raw dump file loaded into memory first (so no stage pays for reading it).
//!
//!   cargo run --release --example stage_cost -- RAW_DUMP_FILE
//!
//! `scripts/bench` runs it with `BENCH_STAGES=1` on the benchmark's own dump, once as built and
//! once built with `--features sha2/force-soft` (SHA-256 without the CPU's SHA instructions, as on
//! a Raspberry Pi 4, whose Cortex-A72 has no ARMv8 crypto extensions). It prints one line per
//! stage: `stage NAME CPU_S_PER_GB BYTES_IN`, where the bytes are the stage's input (raw for the
//! row counter and compression, stored for the hashes).

use std::io::{Read, Write};

use sha2::{Digest, Sha256};
use simdondar_backup::backup::pipeline::READ_BLOCK;
use simdondar_backup::backup::rowcount::RowCounter;

/// CPU seconds (user + system) this thread has used.
fn thread_cpu() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: filled by the successful call above.
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `f` and prints its CPU-seconds per GB of `bytes`.
fn stage(name: &str, bytes: usize, f: impl FnOnce()) {
    let t0 = thread_cpu();
    f();
    let s = thread_cpu() - t0;
    println!("stage {name} {:.3} {bytes}", s / (bytes as f64 / 1e9));
}

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: stage_cost RAW_DUMP_FILE");
        std::process::exit(2);
    };
    let mut raw = Vec::new();
    if let Err(e) = std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut raw)) {
        eprintln!("stage_cost: reading {}: {e}", path.to_string_lossy());
        std::process::exit(1);
    }

    let mut tables = 0;
    stage("rowcount", raw.len(), || {
        let mut c = RowCounter::new();
        for b in raw.chunks(READ_BLOCK) {
            c.feed(b);
        }
        tables = c.finish().len();
    });
    eprintln!("stage_cost: {tables} tables counted");

    // Level 3 (the one-liner's, and the agent's default before issue 17) and level 1 (the
    // agent's default since): the later stages hash level 1's output, what the agent stores.
    let compress = |level: i32, out: &mut Vec<u8>| {
        let enc = zstd::stream::write::Encoder::new(out, level).and_then(|mut e| {
            e.include_checksum(true)?;
            for b in raw.chunks(READ_BLOCK) {
                e.write_all(b)?;
            }
            e.finish()
        });
        if let Err(e) = enc {
            eprintln!("stage_cost: compressing at level {level}: {e}");
            std::process::exit(1);
        }
    };
    let mut level3 = Vec::with_capacity(raw.len() / 2);
    stage("zstd3_one_thread", raw.len(), || compress(3, &mut level3));
    eprintln!("stage_cost: level 3 stored {} bytes", level3.len());
    drop(level3);
    let mut stored = Vec::with_capacity(raw.len() / 2);
    stage("zstd1_one_thread", raw.len(), || compress(1, &mut stored));
    eprintln!("stage_cost: level 1 stored {} bytes", stored.len());
    drop(raw);

    let mut sink = 0u8;
    stage("sha256", stored.len(), || {
        let mut h = Sha256::new();
        for b in stored.chunks(1 << 20) {
            h.update(b);
        }
        sink ^= h.finalize()[0];
    });
    stage("xxh3_128", stored.len(), || {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for b in stored.chunks(1 << 20) {
            h.update(b);
        }
        sink ^= h.digest128() as u8;
    });
    // Handing each 1 MiB of stored stream to the writers: one copy into a shared buffer.
    stage("chunk_copy", stored.len(), || {
        for b in stored.chunks(1 << 20) {
            let c: std::sync::Arc<[u8]> = std::sync::Arc::from(b);
            sink ^= c[0];
        }
    });
    eprintln!("stage_cost: done ({sink})");
}
