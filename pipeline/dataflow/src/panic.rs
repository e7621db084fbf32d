//! Panics met on strange inputs, turned into rejects: one bad input can neither take down nor
//! stall a run.

use shards::rejects::Reject;

/// Runs `work` for `origin`; a panic in it (a decoder or parser bug met on a strange input)
/// becomes a reject of kind `panic` at `stage`, so one input can neither take down nor stall
/// the run. The panic's message is kept in the reason.
pub fn catch_panic<T>(origin: &str, stage: &str, work: impl FnOnce() -> Result<T, Reject>) -> Result<T, Reject> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
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
}
