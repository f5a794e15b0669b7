//! How a guest's end maps to a container's exit code and reason.
//!
//! | how it ended | code | reason |
//! | --- | --- | --- |
//! | `_start` or `wasi:cli/run` returned (ok), or `proc_exit(0)` | 0 | Completed |
//! | `proc_exit(n)` or `wasi:cli/exit.exit-with-code(n)`, n ≠ 0 | n | Error |
//! | `wasi:cli/run` returned err, or `wasi:cli/exit.exit(err)` (WASI 0.2 carries no code) | 1 | Error |
//! | the memory limiter refused a growth, then the guest trapped or exited ≠ 0 | 137 | OOMKilled |
//! | fuel ran out | 137 | FuelExhausted |
//! | stopped by the runtime | 137 | Killed |
//! | any other trap | 134 (128 + SIGABRT, as `wasmtime run` reports traps) | Error, the trap in the message |
//! | the runtime could not run it (link error, no `_start`) | 128 | Error |
//!
//! 137 is what Kubernetes shows for SIGKILL, the closest kin of "ended by the node".
//! A guest that saw a failed growth but still exited 0 coped with it: Completed.

use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use crate::cri::ExitReason;

/// 128 + SIGKILL.
pub const EXIT_KILLED: i32 = 137;
/// 128 + SIGABRT.
pub const EXIT_TRAP: i32 = 134;
/// The guest never ran its code to an end of its own.
pub const EXIT_HOST_ERROR: i32 = 128;

/// A container's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub reason: ExitReason,
    pub message: Option<String>,
}

impl Exit {
    pub fn killed() -> Self {
        Exit { code: EXIT_KILLED, reason: ExitReason::Killed, message: Some("stopped by the runtime".into()) }
    }
}

/// What the runtime observed besides the call's result.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunFacts {
    /// The memory limiter refused a growth.
    pub hit_memory_cap: bool,
    pub memory_cap: Option<u64>,
    /// The fuel budget, for metered containers.
    pub fuel_budget: Option<u64>,
    /// Fuel the instance used, for metered containers.
    pub fuel_consumed: u64,
    /// Bytes the guest wrote to stdout and stderr.
    pub output_bytes: u64,
}

/// Maps the result of instantiating and running `_start`.
pub fn classify(result: &wasmtime::Result<()>, facts: &RunFacts) -> Exit {
    let err = match result {
        Ok(()) => return Exit { code: 0, reason: ExitReason::Completed, message: fuel_used(facts) },
        Err(err) => err,
    };
    if let Some(I32Exit(code)) = err.downcast_ref::<I32Exit>() {
        return match *code {
            0 => Exit { code: 0, reason: ExitReason::Completed, message: fuel_used(facts) },
            code if facts.hit_memory_cap => oom_killed(facts, &format!("the guest exited with {code}")),
            code => Exit { code, reason: ExitReason::Error, message: fuel_used(facts) },
        };
    }
    if facts.hit_memory_cap {
        return oom_killed(facts, &describe(err));
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Exit {
            code: EXIT_KILLED,
            reason: ExitReason::FuelExhausted,
            message: Some(format!(
                "fuel budget of {} exhausted after {} bytes of output",
                facts.fuel_budget.unwrap_or_default(),
                facts.output_bytes
            )),
        },
        Some(trap) => Exit { code: EXIT_TRAP, reason: ExitReason::Error, message: Some(trap.to_string()) },
        None => Exit { code: EXIT_HOST_ERROR, reason: ExitReason::Error, message: Some(describe(err)) },
    }
}

/// For metered containers that ended by themselves, how much of the budget
/// they used: what a CI sandbox sizes the next budget from.
fn fuel_used(facts: &RunFacts) -> Option<String> {
    facts.fuel_budget.map(|budget| format!("fuel consumed: {} of {budget}", facts.fuel_consumed))
}

fn oom_killed(facts: &RunFacts, what: &str) -> Exit {
    let cap = facts.memory_cap.map_or_else(|| "the memory limit".to_owned(), |b| format!("the memory limit of {b} bytes"));
    Exit { code: EXIT_KILLED, reason: ExitReason::OomKilled, message: Some(format!("growth past {cap} refused; {what}")) }
}

/// The error and its causes on one line; `{:?}` would print a host backtrace.
pub fn describe(err: &wasmtime::Error) -> String {
    err.chain().map(|cause| cause.to_string()).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RunFacts {
        RunFacts { memory_cap: Some(16 << 20), fuel_budget: Some(1000), output_bytes: 15, ..RunFacts::default() }
    }

    #[test]
    fn exit_codes_map_to_completed_and_error() {
        let done = classify(&Ok(()), &RunFacts { fuel_consumed: 640, ..facts() });
        assert_eq!((done.reason, done.message.as_deref()), (ExitReason::Completed, Some("fuel consumed: 640 of 1000")));
        let unmetered = classify(&Ok(()), &RunFacts { fuel_budget: None, ..facts() });
        assert_eq!(unmetered.message, None, "no fuel talk for pods that did not ask for it");
        let zero = classify(&Err(wasmtime::Error::new(I32Exit(0))), &facts());
        assert_eq!((zero.code, zero.reason), (0, ExitReason::Completed));
        let seven = classify(&Err(wasmtime::Error::new(I32Exit(7))), &facts());
        assert_eq!((seven.code, seven.reason), (7, ExitReason::Error));
    }

    #[test]
    fn a_refused_growth_makes_a_failing_exit_oom_killed() {
        let hit = RunFacts { hit_memory_cap: true, ..facts() };
        let exit = classify(&Err(wasmtime::Error::new(I32Exit(2))), &hit);
        assert_eq!((exit.code, exit.reason), (EXIT_KILLED, ExitReason::OomKilled));
        assert!(exit.message.is_some_and(|m| m.contains("16777216") && m.contains("exited with 2")));
        let trap = classify(&Err(wasmtime::Error::new(Trap::UnreachableCodeReached)), &hit);
        assert_eq!(trap.reason, ExitReason::OomKilled);
        assert_eq!(classify(&Ok(()), &hit).reason, ExitReason::Completed, "the guest coped");
    }

    #[test]
    fn traps_and_fuel() {
        let fuel = classify(&Err(wasmtime::Error::new(Trap::OutOfFuel)), &facts());
        assert_eq!((fuel.code, fuel.reason), (EXIT_KILLED, ExitReason::FuelExhausted));
        assert_eq!(fuel.message.as_deref(), Some("fuel budget of 1000 exhausted after 15 bytes of output"));
        let trap = classify(&Err(wasmtime::Error::new(Trap::UnreachableCodeReached)), &facts());
        assert_eq!((trap.code, trap.reason), (EXIT_TRAP, ExitReason::Error));
        assert!(trap.message.is_some_and(|m| m.contains("unreachable")));
        let host = classify(&Err(wasmtime::format_err!("unknown import")), &facts());
        assert_eq!((host.code, host.message.as_deref()), (EXIT_HOST_ERROR, Some("unknown import")));
    }
}
