//! The app of `before/src/main.rs` after adding ractor-dist: `Session` is distributed by
//! user id (each user's session runs on one node of the cluster, starts on its first
//! message, and moves with its state when nodes join or leave); `Logger` stays a plain
//! local ractor actor on every node. The edits, numbered as in `README.md`, are marked
//! `// [n]`.
//!
//! ```text
//! cargo run --example from_ractor
//! ```

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{RactorClusterMessage, RactorMessage}; // [2]
use ractor_dist::{
    call_t, cast, DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, Snapshot,
}; // [2]

/// Lines to log; stays local.
#[derive(RactorMessage)] // [3]
enum LogMsg {
    Line(String),
    Count(RpcReplyPort<usize>),
}

struct Logger;

impl Actor for Logger {
    type Msg = LogMsg;
    type State = usize;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<LogMsg>, _: ()) -> Result<usize, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<LogMsg>,
        msg: LogMsg,
        lines: &mut usize,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LogMsg::Line(line) => {
                *lines += 1;
                println!("log: {line}");
            }
            LogMsg::Count(reply) => {
                let _ = reply.send(*lines);
            }
        }
        Ok(())
    }
}

/// A user's session.
#[derive(RactorClusterMessage)] // [4]
enum SessionMsg {
    Event(String),
    #[rpc] // [4]
    Events(RpcReplyPort<Vec<String>>),
}

struct Session;

impl DistActor for Session {
    // [5]
    const KIND: &'static str = "session"; // [5]
    const HANDOFF: HandoffMode = HandoffMode::Resume; // [5] moves keep the events
    type Msg = SessionMsg;
    type State = Vec<String>;
    type Arguments = String;

    async fn pre_start(
        &self,
        _: DistRef<SessionMsg>, // [5]
        user: String,
    ) -> Result<Vec<String>, ActorProcessingErr> {
        Ok(vec![format!("session of {user} opened")])
    }

    async fn handle(
        &self,
        _: DistRef<SessionMsg>, // [5]
        msg: SessionMsg,
        events: &mut Vec<String>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Event(event) => {
                if let Some(logger) = ractor::registry::where_is("logger") {
                    let _ = logger.send_message(LogMsg::Line(event.clone()));
                }
                events.push(event);
            }
            SessionMsg::Events(reply) => {
                let _ = reply.send(events.clone());
            }
        }
        Ok(())
    }

    // [5] what a move carries (needed by `HandoffMode::Resume`)
    fn snapshot(&self, events: &Vec<String>) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(events)
    }

    async fn restore(
        &self,
        _: DistRef<SessionMsg>,
        _: String,
        snapshot: Snapshot,
    ) -> Result<Vec<String>, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// The session of `user`, started on its first message wherever the cluster places it.
fn session(node: &DistNode, user: &str) -> DistRef<SessionMsg> {
    node.ref_for::<Session>(user) // [6]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (logger, _) = Actor::spawn(Some("logger".to_string()), Logger, ()).await?;
    // [6] one node; others start the same way with `seeds` naming this one.
    let config = DistConfig {
        seeds: vec![],
        ..DistConfig::new("from-ractor", 47_301)
    };
    let kinds = Kinds::new().with_factory(Session, |user: &str| user.to_string());
    let node = DistNode::start(config, kinds).await?;

    for user in ["ada", "bob", "cy"] {
        let session = session(&node, user); // [6]
        cast!(session, SessionMsg::Event(format!("{user} logged in")))?;
        cast!(session, SessionMsg::Event(format!("{user} paid")))?;
    }
    for user in ["ada", "bob", "cy"] {
        let events = call_t!(session(&node, user), SessionMsg::Events, 1_000)?; // [6]
        println!("{user}: {events:?}");
        anyhow::ensure!(events.len() == 3, "{user} lost events");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("{} lines logged", call_t!(logger, LogMsg::Count, 1_000)?);
    node.shutdown().await?; // [6]
    Ok(())
}
