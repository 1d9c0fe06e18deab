//! B13: 16 and 32 console node processes on this machine, started one after another, each
//! seeded with only the first. How long until every node sees every other, how long the
//! first spawn (sent the moment they agree) takes to be answered, whether any node settled
//! a view by the handoff deadline instead of by barrier (`settled_by_deadline`, which must
//! stay 0), then, idle: CPU per node (from `/proc/<pid>/stat`) and bytes sent per second
//! (heartbeats and anything else; from the kernel's per-socket `bytes_sent`, `ss -ti`).
//!
//! ```text
//! cargo bench -p integration-tests --bench scale            # 16 and 32 nodes
//! cargo bench -p integration-tests --bench scale -- 8 24    # other sizes
//! ```
//!
//! The nodes run the default configuration (500 ms heartbeat, 3 s deadline, 5 s handoff
//! timeout), so a barrier that completes only by its deadline shows as a spawn taking
//! about 5 s.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use integration_tests::{free_ports, start_node, wait_until, NodeProc};

const IDLE_WARMUP: Duration = Duration::from_secs(3);
const IDLE_SAMPLE: Duration = Duration::from_secs(10);
const SPAWNS: usize = 16;

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time (user + system) of a process, from `/proc/<pid>/stat`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces: fields start after its closing parenthesis.
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are the 12th and 13th after the name.
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The bytes sent so far on every TCP socket with one of `ports` at either end (the
/// kernel's `bytes_sent`, as `ss -ti` shows it): every byte the nodes sent each other.
fn bytes_sent(ports: &BTreeSet<u16>) -> Result<u64> {
    let out = std::process::Command::new("ss")
        .args(["-tinH", "state", "established"])
        .output()
        .context("ss")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let port_of = |addr: &str| addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
    let mut total = 0;
    let mut ours = false;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // A socket: `Recv-Q Send-Q Local:Port Peer:Port`.
            let cols: Vec<&str> = line.split_whitespace().collect();
            ours = cols.len() >= 4
                && [cols[2], cols[3]]
                    .iter()
                    .any(|a| port_of(a).is_some_and(|p| ports.contains(&p)));
        } else if ours {
            if let Some(v) = line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("bytes_sent:"))
            {
                total += v.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

async fn all_see(nodes: &mut [NodeProc], n: usize) -> bool {
    for node in nodes.iter_mut() {
        if !node.members().await.is_ok_and(|m| m.len() == n) {
            return false;
        }
    }
    true
}

async fn run(n: usize) -> Result<()> {
    let ports = free_ports(n)?;
    let seed = format!("127.0.0.1:{}", ports[0]);
    let mut nodes = Vec::with_capacity(n);
    let first_start = Instant::now();
    for (i, port) in ports.iter().enumerate() {
        let mut args = vec!["--cookie".to_string(), "b13".to_string()];
        if i > 0 {
            args.extend(["--seed".to_string(), seed.clone()]);
        }
        nodes.push(start_node(&format!("s{}", i + 1), *port, &args).await?);
    }
    let last_ready = Instant::now();
    let last_ready_us = unix_us();

    // Every node sees all n.
    let agreed = wait_until(Duration::from_secs(120), async || {
        all_see(&mut nodes, n).await
    })
    .await;
    let agree = last_ready.elapsed();
    if !agreed {
        let mut seen = Vec::new();
        for node in nodes.iter_mut() {
            seen.push(node.members().await.map_or(0, |m| m.len()));
        }
        println!("B13 n={n}: the nodes did not agree within 120 s; members seen: {seen:?}");
        return Ok(());
    }
    // The first spawn, sent as soon as they agree.
    let t = Instant::now();
    let host = nodes[0].spawn_as("counter", "b13-first", 0).await;
    let first_spawn = t.elapsed();
    let host = host?;

    // Every node settled.
    let settled = wait_until(Duration::from_secs(60), async || {
        for node in nodes.iter_mut() {
            if !node.stats().await.is_ok_and(|s| s.idle_with(n as u64)) {
                return false;
            }
        }
        true
    })
    .await;
    let settle = last_ready.elapsed();
    let mut adopted_max = 0;
    let (mut by_deadline, mut fallbacks, mut declared_down) = (0, 0, 0);
    for node in nodes.iter_mut() {
        let s = node.stats().await?;
        adopted_max = adopted_max.max(s.get("view_adopted_unix_us"));
        by_deadline += s.get("settled_by_deadline");
        fallbacks += s.get("handoff_fallbacks");
        declared_down += s.get("peers_declared_down");
    }

    // More spawns, from every node in turn, now that everything settled.
    let mut spawns = Vec::new();
    for k in 0..SPAWNS {
        let t = Instant::now();
        nodes[k % n]
            .spawn_as("counter", &format!("b13-{k}"), 0)
            .await?;
        spawns.push(t.elapsed());
    }
    spawns.sort();
    for k in 0..SPAWNS {
        let v = nodes[(k + 1) % n].get(&format!("b13-{k}")).await?;
        ensure!(v == 0, "b13-{k} = {v}");
    }

    // Idle: CPU and bytes over a quiet window.
    tokio::time::sleep(IDLE_WARMUP).await;
    let pids: Vec<u32> = nodes.iter().filter_map(|p| p.pid()).collect();
    ensure!(pids.len() == n, "a node exited");
    let port_set: BTreeSet<u16> = ports.iter().copied().collect();
    let cpu0: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect::<Result<_>>()?;
    let bytes0 = bytes_sent(&port_set)?;
    let t0 = Instant::now();
    tokio::time::sleep(IDLE_SAMPLE).await;
    let cpu1: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect::<Result<_>>()?;
    let bytes1 = bytes_sent(&port_set)?;
    let secs = t0.elapsed().as_secs_f64();
    let hz = clock_ticks_per_second() as f64;
    let mut cpu: Vec<f64> = cpu0
        .iter()
        .zip(&cpu1)
        .map(|(a, b)| 100.0 * (b - a) as f64 / hz / secs)
        .collect();
    cpu.sort_by(f64::total_cmp);
    let cpu_mean = cpu.iter().sum::<f64>() / n as f64;
    let bytes_per_s = bytes1.saturating_sub(bytes0) as f64 / secs;

    println!(
        "B13 n={n}: started {n} nodes in {:.0} ms; all see {n} members {:.1} ms after the last \
         was ready (last view adopted {:.1} ms after it); first spawn answered in {:.1} ms \
         (hosted on {host}); all settled {:.1} ms after the last was ready {}; \
         settled_by_deadline={by_deadline} handoff_fallbacks={fallbacks} \
         peers_declared_down={declared_down}; {SPAWNS} more spawns: p50 {:.2} ms, max {:.2} ms",
        ms(last_ready - first_start),
        ms(agree),
        adopted_max.saturating_sub(last_ready_us) as f64 / 1e3,
        ms(first_spawn),
        ms(settle),
        if settled { "" } else { "(NOT within 60 s)" },
        ms(spawns[SPAWNS / 2]),
        ms(spawns[SPAWNS - 1]),
    );
    println!(
        "B13 n={n} idle over {secs:.1} s: CPU per node mean {cpu_mean:.2} % of a core \
         (min {:.2}, max {:.2}); bytes sent {:.0} B/s in all, {:.0} B/s per node, {:.1} B/s \
         per ordered pair of nodes",
        cpu[0],
        cpu[n - 1],
        bytes_per_s,
        bytes_per_s / n as f64,
        bytes_per_s / (n * (n - 1)) as f64,
    );
    Ok(())
}

fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![16, 32]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for n in sizes {
            run(n).await?;
        }
        Ok(())
    })
}
