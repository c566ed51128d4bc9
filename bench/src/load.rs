//! The load generator: a fixed number of workers, each one connection, each repeating one
//! operation until the time is up. Bounded in count and time, loopback only.

use crate::cpu::CpuTimes;
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant};

/// What one measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub per_second: f64,
    pub operations: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Throughput as a fraction of the bound that limits it, when there is one.
    pub of_bound: Option<f64>,
    /// That bound, per second, as measured for this figure.
    pub bound_per_second: Option<f64>,
    /// The fraction of all CPU time left idle during the measurement (load generator included).
    pub cpu_idle: Option<f64>,
    /// The first error seen, to say why a figure is low.
    pub first_error: Option<String>,
}

impl Figure {
    /// A measurement that could not run at all.
    pub fn failed(name: &str, why: String) -> Self {
        let tally = Tally::failed_to_start(anyhow::anyhow!(why));
        figure(name, tally, Duration::from_secs(1), None)
    }

    /// Compares the throughput with the bound that limits it.
    pub fn compare_with(&mut self, bound_per_second: f64) {
        self.bound_per_second = Some(bound_per_second);
        self.of_bound = Some(self.per_second / bound_per_second);
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    /// Counts one operation begun at `began`. Returns whether it failed.
    fn record(&mut self, began: Instant, result: anyhow::Result<()>) -> bool {
        match result {
            Ok(()) => {
                let took = u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX);
                self.latencies_us.push(took);
                false
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
                true
            }
        }
    }

    fn failed_to_start(e: anyhow::Error) -> Self {
        let mut tally = Self::default();
        tally.record(Instant::now(), Err(e));
        tally
    }

    fn merge(tallies: impl IntoIterator<Item = Tally>) -> Self {
        let mut all = Self::default();
        for tally in tallies {
            all.latencies_us.extend(tally.latencies_us);
            all.errors += tally.errors;
            if all.first_error.is_none() {
                all.first_error = tally.first_error;
            }
        }
        all
    }
}

/// Runs `workers` async workers for `seconds`. `make` builds each worker's state (its
/// connection); `op` performs one operation with it.
pub async fn run<S, M, MF, O, OF>(
    name: &str,
    workers: usize,
    seconds: f64,
    make: M,
    op: O,
) -> Figure
where
    S: Send + 'static,
    M: Fn(usize) -> MF,
    MF: Future<Output = anyhow::Result<S>> + Send + 'static,
    O: Fn(S) -> OF + Send + Sync + Clone + 'static,
    OF: Future<Output = (S, anyhow::Result<()>)> + Send + 'static,
{
    let mut states = Vec::with_capacity(workers);
    for worker in 0..workers {
        states.push(make(worker));
    }
    let (started, cpu) = (Instant::now(), CpuTimes::now());
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::with_capacity(workers);
    for state in states {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut state = match state.await {
                Ok(state) => state,
                Err(e) => return Tally::failed_to_start(e),
            };
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                let (next, result) = op(state).await;
                state = next;
                if tally.record(began, result) {
                    // A broken worker would spin; errors are counted, not retried fast.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(tally) = task.await {
            tallies.push(tally);
        }
    }
    figure(name, Tally::merge(tallies), started.elapsed(), cpu)
}

/// The same for blocking operations (the PAM socket client), one thread a worker.
pub fn run_blocking<S, M, O>(name: &str, workers: usize, seconds: f64, make: M, op: O) -> Figure
where
    S: Send,
    M: Fn(usize) -> anyhow::Result<S> + Sync,
    O: Fn(&mut S) -> anyhow::Result<()> + Sync,
{
    let (started, cpu) = (Instant::now(), CpuTimes::now());
    let deadline = started + Duration::from_secs_f64(seconds);
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let (make, op) = (&make, &op);
                scope.spawn(move || {
                    let mut state = match make(worker) {
                        Ok(state) => state,
                        Err(e) => return Tally::failed_to_start(e),
                    };
                    let mut tally = Tally::default();
                    while Instant::now() < deadline {
                        let began = Instant::now();
                        if tally.record(began, op(&mut state)) {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    tally
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    figure(name, Tally::merge(tallies), started.elapsed(), cpu)
}

/// Runs two blocking operations in turn, one at a time, for `seconds`. Each sees the same
/// machine as the other, moment by moment, so one can serve as the other's reference: on a
/// shared machine, a reference measured a minute earlier may have run on a different one.
pub fn run_in_turn(
    seconds: f64,
    (first_name, first): (&str, &dyn Fn() -> anyhow::Result<()>),
    (second_name, second): (&str, &dyn Fn() -> anyhow::Result<()>),
) -> (Figure, Figure) {
    let (started, cpu) = (Instant::now(), CpuTimes::now());
    let deadline = started + Duration::from_secs_f64(seconds);
    let (mut first_tally, mut second_tally) = (Tally::default(), Tally::default());
    while Instant::now() < deadline {
        for (tally, op) in [(&mut first_tally, first), (&mut second_tally, second)] {
            if tally.record(Instant::now(), op()) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let took = started.elapsed();
    (
        figure(first_name, first_tally, took, cpu),
        figure(second_name, second_tally, took, cpu),
    )
}

fn figure(name: &str, mut tally: Tally, took: Duration, cpu: Option<CpuTimes>) -> Figure {
    tally.latencies_us.sort_unstable();
    let operations = tally.latencies_us.len() as u64;
    Figure {
        name: name.to_owned(),
        per_second: operations as f64 / took.as_secs_f64(),
        operations,
        errors: tally.errors,
        p50_ms: percentile(&tally.latencies_us, 0.50),
        p99_ms: percentile(&tally.latencies_us, 0.99),
        of_bound: None,
        bound_per_second: None,
        cpu_idle: cpu
            .zip(CpuTimes::now())
            .and_then(|(a, b)| a.idle_fraction(b)),
        first_error: tally.first_error,
    }
}

fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<u32> = (1..=100).map(|v| v * 1000).collect();
        assert_eq!(percentile(&values, 0.50), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }
}
