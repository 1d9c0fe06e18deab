//! A seeded chaos run over real processes: console nodes (`ractor_dist_testkit`) on
//! 127.0.0.1, every link through the test's TCP proxies ([`crate::proxy`]), counters written
//! from every running node while a seeded script joins nodes, makes them leave, kills and
//! restarts them, stops them briefly or past the heartbeat deadline, and partitions and
//! heals the cluster. After the script, once the cluster has settled:
//!
//! - every running node sees the same members, and every name is hosted exactly once (the
//!   nodes' `local` counts add up to the names) on the node every node names for it
//!   (`where`), its rendezvous owner (`owner`);
//! - every node reads the same value for each counter, never more than the writes sent to
//!   it; exactly the acknowledged writes when no crash, long pause or partition touched it
//!   (and every write to it was answered); at least the acknowledged writes less those
//!   acknowledged just before a crash or pause (their checkpoints may not have reached a
//!   holder) for the checkpointed kinds; at least every acknowledged write for the merging
//!   kind (`tally`) through pauses and partitions.
//!
//! A failure names the seed, the step and the whole script. [`Settings::from_env`] reads
//! `CHAOS_SEED` and `CHAOS_STEPS`.

mod ledger;
mod script;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use tokio::sync::Mutex;

pub use ledger::{Fault, Kind, Ledger};
pub use script::{render, script, Rng, Step};

use crate::proxy::ProxyMesh;
use crate::{free_ports, node_args, start_node, wait_until, NodeProc, DEADLINE_MS};

/// What a chaos run does.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seeds the script and the writers' choices.
    pub seed: u64,
    /// Steps of the script.
    pub steps: usize,
    /// Node slots (the most nodes that ever run at once).
    pub slots: usize,
    /// Nodes running at the start (also the fewest that ever run).
    pub initial: usize,
    /// Counters per kind (`counter`, `durable`, `tally`).
    pub names_per_kind: usize,
    /// Pause between two writes of one writer.
    pub pace: Duration,
    /// How long a short SIGSTOP lasts (well under the heartbeat deadline).
    pub short_pause: Duration,
    /// How long a checkpoint may take to reach its holder (writes acknowledged this long
    /// before a crash count as at risk).
    pub checkpoint_window: Duration,
    /// How long one wait for the cluster to settle may take.
    pub settle_timeout: Duration,
}

impl Settings {
    /// A run of `steps` steps for `seed` on 5 slots, 3 running at first, 6 counters per
    /// kind.
    pub fn new(seed: u64, steps: usize) -> Settings {
        Settings {
            seed,
            steps,
            slots: 5,
            initial: 3,
            names_per_kind: 6,
            pace: Duration::from_millis(15),
            short_pause: Duration::from_millis(300),
            checkpoint_window: Duration::from_secs(1),
            settle_timeout: Duration::from_secs(40),
        }
    }

    /// `CHAOS_SEED` (default: from the clock, printed) and `CHAOS_STEPS` (default
    /// `steps`).
    pub fn from_env(steps: usize) -> Result<Settings> {
        let seed = match std::env::var("CHAOS_SEED") {
            Ok(s) => s.parse().context("CHAOS_SEED")?,
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as u64,
        };
        let steps = match std::env::var("CHAOS_STEPS") {
            Ok(s) => s.parse().context("CHAOS_STEPS")?,
            Err(_) => steps,
        };
        Ok(Settings::new(seed, steps))
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The script.
    pub script: Vec<Step>,
    /// Sum of increments sent, acknowledged, and writes unanswered.
    pub sent: i64,
    /// See [`Report::sent`].
    pub acked: i64,
    /// See [`Report::sent`].
    pub unanswered: u64,
    /// Why writes went unanswered (the first words of the reply), with counts.
    pub reasons: std::collections::BTreeMap<String, u64>,
    /// Audits (one per counter per step) where the counter had to gain exactly the
    /// acknowledged writes.
    pub exact: usize,
    /// Audits where it was checked against bounds only.
    pub bounded: usize,
    /// Names some node still placed on a former host (another running node) once the
    /// wait for agreement ended, summed over the audits.
    pub stale_where: usize,
    /// Wall time of the run.
    pub took: Duration,
}

/// Runs the script of `settings` and checks the end state (see the module docs).
///
/// # Errors
///
/// What went wrong, with the seed, the step and the script.
pub async fn run(settings: Settings) -> Result<Report> {
    let steps = script(
        settings.seed,
        settings.steps,
        settings.slots,
        settings.initial,
        settings.initial,
    );
    let started = Instant::now();
    eprintln!(
        "chaos: CHAOS_SEED={} CHAOS_STEPS={}\n{}",
        settings.seed,
        settings.steps,
        render(&steps)
    );
    let mut chaos = Chaos::start(&settings).await.map_err(|e| {
        e.context(format!(
            "chaos CHAOS_SEED={} CHAOS_STEPS={}: starting the cluster",
            settings.seed, settings.steps
        ))
    })?;
    let outcome = chaos.play(&steps).await;
    chaos.shutdown().await;
    let (at, result) = match outcome {
        Ok(()) => (None, chaos.verify().await),
        Err((at, e)) => (Some(at), Err(e)),
    };
    result.map_err(|e| {
        let place = match at {
            Some(i) => format!("at step {} ({})", i + 1, steps[i]),
            None => "in the end state".to_string(),
        };
        e.context(format!(
            "chaos CHAOS_SEED={} CHAOS_STEPS={} failed {place}; script:\n{}",
            settings.seed,
            settings.steps,
            render(&steps)
        ))
    })?;
    let (sent, acked, unanswered) = chaos.ledger().totals();
    let reasons = chaos.ledger().reasons().clone();
    Ok(Report {
        reasons,
        seed: settings.seed,
        script: steps,
        sent,
        acked,
        unanswered,
        exact: chaos.exact,
        bounded: chaos.bounded,
        stale_where: chaos.stale_where,
        took: started.elapsed(),
    })
}

/// One node slot: its process (when started) behind a lock shared with its writer.
struct Slot {
    proc: Arc<Mutex<Option<NodeProc>>>,
    writing: Arc<AtomicBool>,
    running: bool,
    node_name: String,
}

struct Chaos {
    settings: Settings,
    ports: Vec<u16>,
    mesh: ProxyMesh,
    slots: Vec<Slot>,
    ledger: Arc<StdMutex<Ledger>>,
    names: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
    exact: usize,
    bounded: usize,
    stale_where: usize,
}

impl Chaos {
    async fn start(settings: &Settings) -> Result<Chaos> {
        let ports = free_ports(settings.slots)?;
        let mesh = ProxyMesh::start(&ports)?;
        let mut ledger = Ledger::default();
        let mut names = Vec::new();
        for kind in Kind::ALL {
            for i in 0..settings.names_per_kind {
                let name = format!("{}{i}", kind.prefix());
                ledger.register(&name, kind);
                names.push(name);
            }
        }
        let mut chaos = Chaos {
            settings: settings.clone(),
            slots: (0..settings.slots)
                .map(|i| Slot {
                    proc: Arc::new(Mutex::new(None)),
                    writing: Arc::new(AtomicBool::new(false)),
                    running: false,
                    node_name: format!("c{}@127.0.0.1", i + 1),
                })
                .collect(),
            ports,
            mesh,
            ledger: Arc::new(StdMutex::new(ledger)),
            names: Arc::new(names),
            stop: Arc::new(AtomicBool::new(false)),
            writers: Vec::new(),
            exact: 0,
            bounded: 0,
            stale_where: 0,
        };
        for i in 0..settings.initial {
            chaos.launch(i).await?;
        }
        let all: Vec<usize> = (0..settings.initial).collect();
        chaos
            .settle(&all, &all, "the first nodes did not form a cluster")
            .await?;
        for (k, kind) in Kind::ALL.into_iter().enumerate() {
            for i in 0..settings.names_per_kind {
                let name = &chaos.names[k * settings.names_per_kind + i];
                let cmd = format!("spawn-as {} {name} 0", kind.console_name());
                chaos.ok(i % settings.initial, &cmd).await?;
            }
        }
        for i in 0..settings.slots {
            chaos.spawn_writer(i);
        }
        for i in 0..settings.initial {
            chaos.slots[i].writing.store(true, Ordering::SeqCst);
        }
        Ok(chaos)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the node of slot `i` (again, under the same name and port).
    async fn launch(&mut self, i: usize) -> Result<()> {
        let mesh_args = self.mesh.args_for(i, &self.ports);
        let mesh_args: Vec<&str> = mesh_args.iter().map(String::as_str).collect();
        let args = node_args(&self.ports, self.ports[i], &mesh_args);
        let node = start_node(&format!("c{}", i + 1), self.ports[i], &args).await?;
        ensure!(
            node.node_name() == self.slots[i].node_name,
            "slot {i} started as {}",
            node.node_name()
        );
        *self.slots[i].proc.lock().await = Some(node);
        self.slots[i].running = true;
        Ok(())
    }

    /// A writer for slot `i`: while its slot is writing, `add`s a random increment (1 to
    /// 9) to a random counter, one at a time, `pace` apart.
    fn spawn_writer(&mut self, i: usize) {
        let proc = self.slots[i].proc.clone();
        let writing = self.slots[i].writing.clone();
        let stop = self.stop.clone();
        let names = self.names.clone();
        let ledger = self.ledger.clone();
        let pace = self.settings.pace;
        let mut rng = Rng::new(self.settings.seed ^ (0x5eed_0000 + i as u64));
        self.writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(pace).await;
                if !writing.load(Ordering::SeqCst) {
                    continue;
                }
                let mut guard = proc.lock().await;
                // Checked again under the lock: the controller clears it, then takes the
                // lock, before it signals or stops the node.
                if !writing.load(Ordering::SeqCst) {
                    continue;
                }
                let Some(node) = guard.as_mut() else { continue };
                let name = &names[rng.below(names.len())];
                let n = 1 + rng.below(9) as i64;
                ledger
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sent(name, n);
                let answer = add(node, name, n).await;
                let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
                match answer {
                    Ok(_) => ledger.acked(name, n),
                    Err(why) => ledger.unanswered(name, &why),
                }
            }
        }));
    }

    /// Stops the writer of slot `i` and waits for its write in flight; returns the slot's
    /// process lock, held.
    async fn quiesce(&self, i: usize) -> tokio::sync::OwnedMutexGuard<Option<NodeProc>> {
        self.slots[i].writing.store(false, Ordering::SeqCst);
        self.slots[i].proc.clone().lock_owned().await
    }

    /// Sends a command that must succeed to the node of slot `i`.
    async fn ok(&self, i: usize, command: &str) -> Result<String> {
        let mut guard = self.slots[i].proc.lock().await;
        let node = guard
            .as_mut()
            .ok_or_else(|| anyhow!("slot {i} has no node"))?;
        Ok(node.ok(command).await?)
    }

    fn running(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].running)
            .collect()
    }

    /// Waits until each node of `nodes` sees exactly the nodes `members` (slots), has
    /// settled, moves nothing, holds nothing and is not fenced.
    async fn settle(&self, nodes: &[usize], members: &[usize], what: &str) -> Result<()> {
        let expected: Vec<String> = members
            .iter()
            .map(|&i| self.slots[i].node_name.clone())
            .collect();
        let mut last = String::new();
        let done = wait_until(self.settings.settle_timeout, async || {
            for &i in nodes {
                let mut guard = self.slots[i].proc.lock().await;
                let Some(node) = guard.as_mut() else {
                    return false;
                };
                let seen = node.members().await.unwrap_or_default();
                if seen != expected {
                    last = format!("{} sees {seen:?}", node.name());
                    return false;
                }
                match node.stats().await {
                    Ok(s)
                        if s.idle_with(members.len() as u64)
                            && s.value("fenced") != Some("true") => {}
                    Ok(s) => {
                        last = format!("{}: {s}", node.name());
                        return false;
                    }
                    Err(e) => {
                        last = e.to_string();
                        return false;
                    }
                }
            }
            true
        })
        .await;
        ensure!(
            done,
            "{what} within {:?} (expected members {expected:?}; last: {last})",
            self.settings.settle_timeout
        );
        Ok(())
    }

    /// Waits until the writers got `n` more answers (so that writes reach the cluster in
    /// its current shape), bounded by the settle timeout.
    async fn more_writes(&self, n: u64) -> Result<()> {
        let count = || self.ledger().answers();
        let from = count();
        let done = wait_until(self.settings.settle_timeout, async || count() >= from + n).await;
        ensure!(done, "the writers got fewer than {n} answers");
        Ok(())
    }

    /// The names hosted on slot `victim` (asking `via`), marked as touched by `fault` at
    /// `at` by [`Chaos::touch_hosted`].
    async fn hosted_on(&self, victim: usize, via: usize) -> Result<Vec<String>> {
        let mut on = Vec::new();
        for name in self.names.iter() {
            let reply = self.ok(via, &format!("where {name}")).await?;
            if reply.split_whitespace().next() == Some(&self.slots[victim].node_name) {
                on.push(name.clone());
            }
        }
        Ok(on)
    }

    fn touch(&self, names: &[String], fault: Fault, at: Instant) {
        let mut ledger = self.ledger();
        for name in names {
            ledger.touch(name, fault, at);
        }
    }

    async fn play(&mut self, steps: &[Step]) -> Result<(), (usize, anyhow::Error)> {
        for (k, step) in steps.iter().enumerate() {
            let t = Instant::now();
            self.step(step).await.map_err(|e| (k, e))?;
            let took = t.elapsed();
            let (exact, bounded) = self.audit().await.map_err(|e| (k, e))?;
            self.exact += exact;
            self.bounded += bounded;
            let unanswered = self.ledger().take_step_reasons();
            eprintln!(
                "chaos: step {} ({step}) took {took:?}; audit: {exact} counters exact, {bounded} within bounds{}",
                k + 1,
                if unanswered.is_empty() {
                    String::new()
                } else {
                    format!("; unanswered writes: {unanswered:?}")
                }
            );
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<()> {
        let running = self.running();
        let others =
            |v: usize| -> Vec<usize> { running.iter().copied().filter(|&i| i != v).collect() };
        match *step {
            Step::Join(i) => {
                {
                    let mut guard = self.quiesce(i).await;
                    if let Some(old) = guard.as_mut() {
                        old.kill().await;
                    }
                    *guard = None;
                }
                self.launch(i).await?;
                let all = self.running();
                self.settle(&all, &all, "the cluster did not take the new node")
                    .await?;
                self.slots[i].writing.store(true, Ordering::SeqCst);
            }
            Step::Leave(i) => {
                let mut guard = self.quiesce(i).await;
                let node = guard
                    .as_mut()
                    .ok_or_else(|| anyhow!("slot {i} has no node"))?;
                node.send("leave").await?;
                let mut reply = None;
                for _ in 0..4 {
                    match node.recv().await {
                        Ok(line) => {
                            reply = Some(line);
                            break;
                        }
                        Err(ractor_dist_testkit::Error::Timeout { .. }) => continue,
                        Err(e) => bail!("leave: {e}"),
                    }
                }
                ensure!(reply.as_deref() == Some("ok"), "leave answered {reply:?}");
                let code = node.wait_exit().await?;
                ensure!(code == Some(0), "the leaving node exited with {code:?}");
                *guard = None;
                self.slots[i].running = false;
                let rest = others(i);
                self.settle(&rest, &rest, "the others did not settle after the leave")
                    .await?;
            }
            Step::KillRestart(i) => {
                let rest = others(i);
                let touched = self.hosted_on(i, rest[0]).await?;
                let mut guard = self.quiesce(i).await;
                let node = guard
                    .as_mut()
                    .ok_or_else(|| anyhow!("slot {i} has no node"))?;
                node.kill().await;
                self.touch(&touched, Fault::Crash, Instant::now());
                self.settle(
                    &rest,
                    &rest,
                    "the survivors did not settle without the killed node",
                )
                .await?;
                self.more_writes(10).await?;
                node.restart().await?;
                drop(guard);
                self.settle(&running, &running, "the restarted node was not taken back")
                    .await?;
                self.slots[i].writing.store(true, Ordering::SeqCst);
            }
            Step::ShortPause(i) => {
                let rest = others(i);
                let touched = self.hosted_on(i, rest[0]).await?;
                let down_before = self.declared_down(&rest).await;
                let guard = self.quiesce(i).await;
                let node = guard
                    .as_ref()
                    .ok_or_else(|| anyhow!("slot {i} has no node"))?;
                node.signal("STOP").await?;
                let at = Instant::now();
                tokio::time::sleep(self.settings.short_pause).await;
                node.signal("CONT").await?;
                drop(guard);
                self.settle(
                    &running,
                    &running,
                    "the cluster did not settle after a short pause",
                )
                .await?;
                if self.declared_down(&rest).await > down_before {
                    // Under load even a short stop can pass the deadline: account for it
                    // as a long one.
                    eprintln!("chaos: the short pause of c{} was declared down", i + 1);
                    self.touch(&touched, Fault::Pause, at);
                }
                self.slots[i].writing.store(true, Ordering::SeqCst);
            }
            Step::LongPause(i) => {
                let rest = others(i);
                let touched = self.hosted_on(i, rest[0]).await?;
                let guard = self.quiesce(i).await;
                let node = guard
                    .as_ref()
                    .ok_or_else(|| anyhow!("slot {i} has no node"))?;
                node.signal("STOP").await?;
                self.touch(&touched, Fault::Pause, Instant::now());
                let stopped = Instant::now();
                let outcome = async {
                    self.settle(
                        &rest,
                        &rest,
                        "the others did not settle without the stopped node",
                    )
                    .await?;
                    self.more_writes(10).await
                }
                .await;
                node.signal("CONT").await?;
                drop(guard);
                outcome?;
                ensure!(
                    stopped.elapsed() >= Duration::from_millis(DEADLINE_MS),
                    "the stop was shorter than the deadline"
                );
                self.settle(&running, &running, "the resumed node was not taken back")
                    .await?;
                self.slots[i].writing.store(true, Ordering::SeqCst);
            }
            Step::Partition(ref side) => {
                let other: Vec<usize> = running
                    .iter()
                    .copied()
                    .filter(|i| !side.contains(i))
                    .collect();
                let names = self.names.to_vec();
                self.touch(&names, Fault::Partition, Instant::now());
                self.mesh.partition(side, &other);
                let apart = async {
                    self.settle(side, side, "one side did not settle on its own")
                        .await?;
                    self.settle(&other, &other, "the other side did not settle on its own")
                        .await?;
                    self.more_writes(10).await
                }
                .await;
                self.mesh.heal();
                apart?;
                self.settle(&running, &running, "the partition did not heal")
                    .await?;
            }
        }
        Ok(())
    }

    /// Stops every writer (after its write in flight), reads every counter through one
    /// running node, checks it against what was written since the last audit, and starts
    /// a new audit period; then the writers resume. Runs once the cluster has settled, so
    /// every write that got no answer has landed or is gone. Returns how many counters had
    /// to be exact and how many were checked against bounds.
    async fn audit(&mut self) -> Result<(usize, usize)> {
        self.agree("after the step").await?;
        let writing: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].writing.load(Ordering::SeqCst))
            .collect();
        let mut guards = Vec::new();
        for i in 0..self.slots.len() {
            guards.push(self.quiesce(i).await);
        }
        let reader = *self
            .running()
            .first()
            .ok_or_else(|| anyhow!("no node runs"))?;
        let node = guards[reader]
            .as_mut()
            .ok_or_else(|| anyhow!("slot {reader} has no node"))?;
        let window = self.settings.checkpoint_window;
        let (mut exact, mut bounded) = (0, 0);
        let mut problems = Vec::new();
        for name in self.names.iter() {
            // A name that does not answer right after settling is asked again (bounded):
            // reported if it comes back, a failure if it does not.
            let asked = Instant::now();
            let mut answer = node.get(name).await;
            let mut first_error = None;
            while answer.is_err() && asked.elapsed() < Duration::from_secs(5) {
                first_error.get_or_insert_with(|| answer.as_ref().err().map(|e| e.to_string()));
                tokio::time::sleep(Duration::from_millis(100)).await;
                answer = node.get(name).await;
            }
            let value = answer.map_err(|e| {
                anyhow!("{name} does not answer 5 s after the cluster settled: {e}")
            })?;
            if let Some(Some(e)) = first_error {
                eprintln!(
                    "chaos: {name} answered again only {:?} after settling (first: {e})",
                    asked.elapsed()
                );
            }
            let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
            let (problem, was_exact) = ledger.check(name, value, window);
            if was_exact {
                exact += 1;
            } else {
                bounded += 1;
            }
            problems.extend(problem);
            ledger.rebase(name, value, window);
        }
        drop(guards);
        for i in writing {
            self.slots[i].writing.store(true, Ordering::SeqCst);
        }
        ensure!(problems.is_empty(), "{}", problems.join("\n"));
        Ok((exact, bounded))
    }

    /// The sum of `peers_declared_down` over `nodes`.
    async fn declared_down(&self, nodes: &[usize]) -> u64 {
        let mut sum = 0;
        for &i in nodes {
            if let Some(node) = self.slots[i].proc.lock().await.as_mut() {
                sum += node
                    .stats()
                    .await
                    .map_or(0, |s| s.get("peers_declared_down"));
            }
        }
        sum
    }

    /// Stops the writers (each after its write in flight).
    async fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for i in 0..self.slots.len() {
            drop(self.quiesce(i).await);
        }
        for w in self.writers.drain(..) {
            let _ = w.await;
        }
    }

    /// Checks the end state (after the writers stopped and the last audit): every node sees
    /// the same members, every name is hosted once, on the host and owner every node names,
    /// and reads the same value everywhere, the value of the last audit.
    async fn verify(&mut self) -> Result<()> {
        let running = self.running();
        self.settle(&running, &running, "the cluster did not settle at the end")
            .await?;
        let names = self.names.clone();
        let total = names.len();
        let mut hosted = 0;
        let once = wait_until(self.settings.settle_timeout, async || {
            hosted = 0;
            for &i in &running {
                match self.ok(i, "local").await.map(|l| l.parse::<usize>()) {
                    Ok(Ok(n)) => hosted += n,
                    _ => return false,
                }
            }
            hosted == total
        })
        .await;
        ensure!(once, "{hosted} copies of {total} names run");
        self.agree("at the end").await?;
        let mut problems = Vec::new();
        for name in names.iter() {
            let mut values = BTreeSet::new();
            for &i in &running {
                values.insert(self.ok(i, &format!("get {name}")).await?);
            }
            if values.len() != 1 {
                problems.push(format!("{name}: the nodes read {values:?}"));
                continue;
            }
            let value: i64 = values.first().expect("one").parse()?;
            let (problem, _) = self
                .ledger()
                .check(name, value, self.settings.checkpoint_window);
            problems.extend(problem);
        }
        ensure!(problems.is_empty(), "{}", problems.join("\n"));
        Ok(())
    }

    /// What the running nodes say about every name: problems (the nodes disagree on its
    /// owner, its owner does not host it, or a node places it on a node that does not
    /// run), and stale answers (a node places it on another running node: see the
    /// README's non-guarantees on `where_is`), each with what every node answered.
    async fn placement_problems(&self) -> Result<(Vec<String>, Vec<String>)> {
        let running = self.running();
        let live: BTreeSet<&str> = running
            .iter()
            .map(|&i| self.slots[i].node_name.as_str())
            .collect();
        let (mut problems, mut stale) = (Vec::new(), Vec::new());
        for name in self.names.iter() {
            let mut answers = Vec::new();
            for &i in &running {
                let host = self.ok(i, &format!("where {name}")).await?;
                let host = host.split_whitespace().next().unwrap_or("").to_string();
                let owner = self.ok(i, &format!("owner {name}")).await?;
                answers.push((i, host, owner));
            }
            let owner = &answers[0].2;
            let owner_says = answers
                .iter()
                .find(|(i, _, _)| self.slots[*i].node_name == *owner)
                .map(|(_, h, _)| h);
            let said = || {
                let said: Vec<String> = answers
                    .iter()
                    .map(|(i, h, o)| format!("c{} says {h} (owner {o})", i + 1))
                    .collect();
                format!("{name}: {}", said.join(", "))
            };
            if answers.iter().any(|(_, _, o)| o != owner)
                || owner_says != Some(owner)
                || answers.iter().any(|(_, h, _)| !live.contains(h.as_str()))
            {
                problems.push(said());
            } else if answers.iter().any(|(_, h, _)| h != owner) {
                stale.push(said());
            }
        }
        Ok((problems, stale))
    }

    /// Waits (bounded) until every running node places every name on its owner. A wait is
    /// reported; at the timeout, stale answers naming another running node are reported
    /// and counted (a known non-guarantee), anything else fails with what each node
    /// answered.
    async fn agree(&mut self, when: &str) -> Result<()> {
        let t = Instant::now();
        let (mut problems, mut stale) = (Vec::new(), Vec::new());
        let mut failure = None;
        let mut polls = 0;
        let mut first = Vec::new();
        let agreed = wait_until(self.settings.settle_timeout / 4, async || {
            polls += 1;
            match self.placement_problems().await {
                Ok((p, s)) => (problems, stale) = (p, s),
                Err(e) => failure = Some(e),
            }
            if polls == 1 {
                first = problems.iter().chain(&stale).cloned().collect();
            }
            failure.is_none() && problems.is_empty() && stale.is_empty()
        })
        .await;
        if let Some(e) = failure {
            return Err(e);
        }
        ensure!(
            agreed || problems.is_empty(),
            "the nodes disagree on hosts {when}, {:?} after settling:\n{}",
            t.elapsed(),
            problems
                .iter()
                .chain(&stale)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        if !agreed {
            eprintln!(
                "chaos: stale `where` answers {when}, {:?} after settling (a name moved \
                 within the view; see the README's non-guarantees):\n{}",
                t.elapsed(),
                stale.join("\n")
            );
            self.stale_where += stale.len();
        } else if polls > 1 {
            eprintln!(
                "chaos: the nodes agreed on every host {when} only {:?} after settling \
                 ({polls} polls); at first:\n{}",
                t.elapsed(),
                first.join("\n")
            );
        }
        Ok(())
    }
}

/// `add <name> <n>` on `node`: the new value when acknowledged, else the reply or what
/// happened. A reply that comes late is still read (the console answers every line), so
/// the next command stays in step.
async fn add(node: &mut NodeProc, name: &str, n: i64) -> Result<i64, String> {
    node.send(&format!("add {name} {n}"))
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..4 {
        match node.recv().await {
            Ok(reply) => {
                return reply
                    .strip_prefix("ok ")
                    .and_then(|v| v.parse().ok())
                    .ok_or(reply)
            }
            Err(ractor_dist_testkit::Error::Timeout { .. }) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("no answer in 60 s".to_string())
}
