//! How busy the machine's CPUs were during a measurement, from `/proc/stat`: a throughput
//! figure taken with cores idle is the load generator's limit, not the daemon's.

/// Jiffies since boot, all CPUs together.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    total: u64,
    idle: u64,
}

impl CpuTimes {
    /// Now, or `None` where `/proc/stat` cannot be read.
    pub fn now() -> Option<Self> {
        parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The fraction of CPU time spent idle (or waiting on the disk) from `self` to `later`.
    pub fn idle_fraction(self, later: Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let idle = later.idle.checked_sub(self.idle)?;
        (total > 0).then(|| idle as f64 / total as f64)
    }
}

/// The `cpu` line: user nice system idle iowait irq softirq steal (guest time is already in
/// user and nice, so it is not added again).
fn parse(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    (fields.len() >= 5).then(|| CpuTimes {
        total: fields.iter().sum(),
        idle: fields[3] + fields[4],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_is_idle_and_iowait_over_all_time() {
        let before = parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5\n").unwrap();
        let after = parse("cpu  250 0 100 850 50 0 0 0 0 0\n").unwrap();
        assert_eq!(before.idle_fraction(after), Some(0.2));
        assert!(parse("intr 1 2 3").is_none());
        assert!(after.idle_fraction(before).is_none());
    }
}
