//! A small ractor app, before ractor-dist: a local `Logger` and one `Session` actor per user
//! counting that user's events. `../after.rs` is the same app with `Session` distributed
//! (the edits are listed in `../README.md`).
//!
//! ```text
//! cargo run --manifest-path examples/from_ractor/before/Cargo.toml
//! ```

use std::time::Duration;

use ractor::{call_t, cast, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// Lines to log; stays local.
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
enum SessionMsg {
    Event(String),
    Events(RpcReplyPort<Vec<String>>),
}

struct Session;

impl Actor for Session {
    type Msg = SessionMsg;
    type State = Vec<String>;
    type Arguments = String;

    async fn pre_start(
        &self,
        _: ActorRef<SessionMsg>,
        user: String,
    ) -> Result<Vec<String>, ActorProcessingErr> {
        Ok(vec![format!("session of {user} opened")])
    }

    async fn handle(
        &self,
        _: ActorRef<SessionMsg>,
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
}

/// The session of `user`, started on first use.
async fn session(user: &str) -> anyhow::Result<ActorRef<SessionMsg>> {
    let name = format!("session/{user}");
    if let Some(cell) = ractor::registry::where_is(name.clone()) {
        return Ok(cell.into());
    }
    let (session, _) = Actor::spawn(Some(name), Session, user.to_string()).await?;
    Ok(session)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (logger, _) = Actor::spawn(Some("logger".to_string()), Logger, ()).await?;

    for user in ["ada", "bob", "cy"] {
        let session = session(user).await?;
        cast!(session, SessionMsg::Event(format!("{user} logged in")))?;
        cast!(session, SessionMsg::Event(format!("{user} paid")))?;
    }
    for user in ["ada", "bob", "cy"] {
        let events = call_t!(session(user).await?, SessionMsg::Events, 1_000)?;
        println!("{user}: {events:?}");
        anyhow::ensure!(events.len() == 3, "{user} lost events");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("{} lines logged", call_t!(logger, LogMsg::Count, 1_000)?);
    Ok(())
}
