//! Panics met on strange inputs, turned into rejects: one bad input can neither take down nor
//! stall a run.

use std::any::Any;

use shards::rejects::Reject;

/// The message a panic was raised with (`panic!("…")` gives a `&str` or a `String`), from
/// the payload [`std::panic::catch_unwind`] or [`std::thread::JoinHandle::join`] hands back.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Runs `work` for `origin`; a panic in it (a decoder or parser bug met on a strange input)
/// becomes a reject of kind `panic` at `stage`, so one input can neither take down nor stall
/// the run. The panic's message is kept in the reason.
pub fn catch_panic<T>(origin: &str, stage: &str, work: impl FnOnce() -> Result<T, Reject>) -> Result<T, Reject> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = panic_message(payload.as_ref());
        Err(Reject::new(origin, stage, "panic", format!("{origin}: {stage} panicked: {message}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_reject_naming_the_input_and_the_message() {
        let caught = catch_panic::<()>("a.tar:000001", "decode", || panic!("index out of bounds"));
        let reject = caught.unwrap_err();
        assert_eq!(
            (reject.origin.as_str(), reject.stage.as_str(), reject.kind.as_str()),
            ("a.tar:000001", "decode", "panic")
        );
        assert!(reject.reason.contains("index out of bounds"), "{}", reject.reason);
        let formatted = catch_panic::<()>("b", "tokenize", || panic!("bad {}", 7)).unwrap_err();
        assert!(formatted.reason.contains("bad 7"), "{}", formatted.reason);
        assert_eq!(catch_panic("c", "decode", || Ok(3)), Ok(3));
    }

    #[test]
    fn the_message_of_a_joined_threads_panic_is_read_back() {
        let joined = |work: fn()| std::thread::spawn(work).join().unwrap_err();
        assert_eq!(panic_message(joined(|| panic!("plain")).as_ref()), "plain");
        assert_eq!(panic_message(joined(|| panic!("formatted {}", 3)).as_ref()), "formatted 3");
        assert_eq!(panic_message(joined(|| std::panic::panic_any(7u8)).as_ref()), "no message");
    }
}
