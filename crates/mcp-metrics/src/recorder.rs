//! Whether anything records what the layer would measure.

/// Whether a `metrics` recorder is installed for this thread: a local one,
/// or the global one.
///
/// The `metrics` facade has no call that asks it. With no recorder
/// installed it hands out its `NoopRecorder`, a unit struct; a recorder
/// that records keeps state, so it has a size. A recorder of size zero is
/// taken for none: one of your own that keeps all its state in statics
/// needs [`MetricsBuilder::always_record`](crate::MetricsBuilder::always_record).
#[inline]
pub(crate) fn installed() -> bool {
    metrics::with_recorder(|recorder| std::mem::size_of_val(recorder) != 0)
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::DebuggingRecorder;

    use super::installed;

    #[test]
    fn the_noop_recorder_is_none_and_a_real_one_is_seen() {
        // Tests of this crate only ever install local recorders.
        assert!(!installed());
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || assert!(installed()));
        assert!(!installed());
    }
}
