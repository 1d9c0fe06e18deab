//! An interactive ractor-dist node: the console node of `ractor_dist_testkit` (the
//! workspace crate `testkit/`), which hosts counters of every handoff mode and the other test kinds.
//!
//! ```text
//! cargo run --example node -- --name a --port 7101 --seed 127.0.0.1:7102 --cookie secret
//! ```
//!
//! It prints `ready <node-name>` once it listens, then answers each command read from stdin
//! with one line starting with `ok` or `error` (the protocol is documented on
//! `ractor_dist_testkit::console_main`): `spawn <name> [start]`, `add <name> <n>`,
//! `get <name>`, `where <name>`, `stop <name>`, `members`, `local`, `status`, `quit`.

fn main() {
    ractor_dist_testkit::console_main(std::env::args().skip(1))
}
