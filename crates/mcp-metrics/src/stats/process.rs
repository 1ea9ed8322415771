//! The process's CPU time and resident memory, read from `/proc` on Linux
//! (no other platform has them here).

use serde::Serialize;

/// What the operating system says this process uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProcessStats {
    /// CPU time spent in user and kernel mode since the process started,
    /// all threads together, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_bytes: u64,
}

/// The kernel reports CPU times in clock ticks of `USER_HZ`, which is 100
/// on every architecture Rust targets for Linux (it is part of the ABI,
/// whatever the kernel's internal tick rate).
const TICKS_PER_SECOND: f64 = 100.0;

impl ProcessStats {
    /// This process's figures, or `None` where `/proc` cannot be read.
    pub fn current() -> Option<Self> {
        #[cfg(target_os = "linux")]
        {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            // `status` gives resident memory in kB; `statm` would need the
            // page size, which only a libc call knows.
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            Some(Self {
                cpu_seconds: cpu_seconds(&stat)?,
                resident_bytes: resident_bytes(&status)?,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: fields are counted from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After the name come field 3 (state) ...; utime is field 14, stime 15.
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// `VmRSS` of a `/proc/<pid>/status` text, in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_ascii_whitespace();
    let kilobytes: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 2000 0 3 0 \
                    1234 566 0 0 20 0 9 0 100 123456789 5000 18446744073709551615";
        assert_eq!(cpu_seconds(stat), Some(18.0));
        assert_eq!(cpu_seconds("4242 (cut"), None);
    }

    #[test]
    fn resident_memory_is_read_in_kilobytes() {
        let status = "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t9\n";
        assert_eq!(resident_bytes(status), Some(5120 * 1024));
        assert_eq!(resident_bytes("Name:\tserver\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_uses_some_memory_and_its_cpu_time_grows() {
        let before = ProcessStats::current().unwrap();
        assert!(before.resident_bytes > 1 << 20, "{before:?}");
        // Burn CPU until the kernel's 10 ms tick has counted some of it.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while ProcessStats::current().unwrap().cpu_seconds <= before.cpu_seconds {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            assert!(started.elapsed().as_secs() < 10, "CPU time never moved");
        }
    }
}
