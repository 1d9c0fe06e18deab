//! `cast!`, `call!` and `call_t!`: ractor's call-site macros, for a [`crate::DistRef`] as well
//! as a ractor `ActorRef`.
//!
//! ractor's own macros do not take a `DistRef`: they turn every error into a
//! `ractor::RactorErr<M>` and expect `call` to answer a `ractor::rpc::CallResult`, which
//! would lose what a distributed call can tell (which node was unreachable, whether the
//! error is worth retrying). These macros have the same names and arguments, and expand to
//! the same `cast` and `call` methods; only the error type depends on the handle:
//!
//! | handle | `cast!` | `call!`, `call_t!` |
//! |---|---|---|
//! | `ractor::ActorRef<M>` | `Result<(), RactorErr<M>>` (as ractor's) | `Result<R, RactorErr<M>>` (as ractor's) |
//! | [`crate::DistRef<M>`] | `Result<(), SendError<M>>` (the message handed back; `?` makes it a `DistError`) | `Result<R, DistError>` |
//!
//! So an application that distributes some of its actors imports them from ractor_dist
//! instead of ractor (`use ractor_dist::{call, call_t, cast};`), and every call site, local
//! or distributed, keeps its shape. `call!` on a `DistRef` waits at most
//! `DistConfig::request_timeout` (ractor's waits forever); `forward!` is not provided.

use ractor::rpc::CallResult;
use ractor::{MessagingErr, RactorErr};

use crate::core::error::DistError;

/// What a `cast` or `call` answered, turned into what the macros return (see the module
/// docs). Not part of the API: used by the macros' expansion only.
#[doc(hidden)]
pub trait MacroOutcome {
    /// What the macro returns.
    type Output;
    /// Converts.
    fn into_outcome(self) -> Self::Output;
}

/// `ActorRef::cast`, as ractor's `cast!` returns it.
impl<M> MacroOutcome for Result<(), MessagingErr<M>> {
    type Output = Result<(), RactorErr<M>>;
    fn into_outcome(self) -> Self::Output {
        self.map_err(RactorErr::from)
    }
}

/// `ActorRef::call`, as ractor's `call!` returns it.
impl<R, M> MacroOutcome for Result<CallResult<R>, MessagingErr<M>> {
    type Output = Result<R, RactorErr<M>>;
    fn into_outcome(self) -> Self::Output {
        match self {
            Ok(CallResult::Success(reply)) => Ok(reply),
            Ok(other) => Err(RactorErr::from(other)),
            Err(e) => Err(RactorErr::from(e)),
        }
    }
}

/// `DistRef::cast`: as it is (the message handed back on failure).
impl<M> MacroOutcome for Result<(), crate::core::error::SendError<M>> {
    type Output = Self;
    fn into_outcome(self) -> Self::Output {
        self
    }
}

/// `DistRef::call` and the others: as they are.
impl<T> MacroOutcome for Result<T, DistError> {
    type Output = Result<T, DistError>;
    fn into_outcome(self) -> Self::Output {
        self
    }
}

/// Sends a message without waiting, like `ractor::cast!`, to a [`DistRef`](crate::DistRef)
/// or a ractor `ActorRef`.
///
/// `cast!(actor, msg)` is `actor.cast(msg)`; the error is [`SendError`](crate::SendError)
/// (the message handed back, and the [`DistError`](crate::DistError)) for a `DistRef`, and
/// `ractor::RactorErr<M>` for an `ActorRef`, as with ractor's macro.
///
/// # Examples
///
/// ```no_run
/// use ractor::RpcReplyPort;
/// use ractor_cluster::RactorClusterMessage;
/// use ractor_dist::{call, call_t, cast, DistNode, DistRef};
///
/// #[derive(RactorClusterMessage)]
/// enum CounterMsg {
///     Add(i64),
///     #[rpc]
///     Get(RpcReplyPort<i64>),
///     #[rpc]
///     AddAndGet(i64, RpcReplyPort<i64>),
/// }
///
/// # async fn example(node: DistNode) -> Result<(), ractor_dist::DistError> {
/// let counter: DistRef<CounterMsg> = node.lookup("visits").await?;
/// cast!(counter, CounterMsg::Add(1))?;
/// let n = call!(counter, CounterMsg::Get)?;
/// let m = call_t!(counter, CounterMsg::AddAndGet, 500, 2)?; // 500 ms, then the argument 2
/// # let _ = (n, m);
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! cast {
    ($actor:expr, $msg:expr) => {
        $crate::__private::MacroOutcome::into_outcome($actor.cast($msg))
    };
}

/// Sends a request and waits for its answer, like `ractor::call!`, to a
/// [`DistRef`](crate::DistRef) or a ractor `ActorRef`.
///
/// `call!(actor, Variant)` and `call!(actor, Variant, arg1, arg2, ...)` build the message
/// around the reply port (placed after the arguments). On a `DistRef` it waits at most
/// `DistConfig::request_timeout` and fails with [`DistError`](crate::DistError); on an
/// `ActorRef` it waits forever and fails with `ractor::RactorErr<M>`, as ractor's does. See
/// [`cast!`] for an example.
#[macro_export]
macro_rules! call {
    ($actor:expr, $msg:expr) => {
        $crate::__private::MacroOutcome::into_outcome(
            $actor.call(|tx| $msg(tx), ::core::option::Option::None).await,
        )
    };
    ($actor:expr, $msg:expr, $($args:expr),*) => {
        $crate::__private::MacroOutcome::into_outcome(
            $actor.call(|tx| $msg($($args),*, tx), ::core::option::Option::None).await,
        )
    };
}

/// As [`call!`], waiting at most `timeout_ms` milliseconds (ractor's `call_t!`):
/// `call_t!(actor, Variant, 500)` or `call_t!(actor, Variant, 500, arg1, ...)`. A timeout
/// is [`DistError::Timeout`](crate::DistError::Timeout) on a `DistRef`,
/// `ractor::RactorErr::Timeout` on an `ActorRef`.
#[macro_export]
macro_rules! call_t {
    ($actor:expr, $msg:expr, $timeout_ms:expr) => {
        $crate::__private::MacroOutcome::into_outcome(
            $actor
                .call(
                    |tx| $msg(tx),
                    ::core::option::Option::Some(::std::time::Duration::from_millis($timeout_ms)),
                )
                .await,
        )
    };
    ($actor:expr, $msg:expr, $timeout_ms:expr, $($args:expr),*) => {
        $crate::__private::MacroOutcome::into_outcome(
            $actor
                .call(
                    |tx| $msg($($args),*, tx),
                    ::core::option::Option::Some(::std::time::Duration::from_millis($timeout_ms)),
                )
                .await,
        )
    };
}
