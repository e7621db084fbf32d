//! Small statistics shared by the operators.

/// The weighted median of `(value, weight)` pairs: the smallest value at which the weights
/// reached so far (in value order) make up half the total; `None` without pairs.
pub(crate) fn weighted_median(mut pairs: Vec<(f64, f64)>) -> Option<f64> {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = pairs.iter().map(|&(_, w)| w).sum::<f64>() / 2.0;
    let mut seen = 0.0;
    pairs
        .into_iter()
        .find(|&(_, w)| {
            seen += w;
            seen >= half
        })
        .map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::weighted_median;

    #[test]
    fn the_weights_decide_and_order_does_not() {
        assert_eq!(weighted_median(vec![(3.0, 1.0), (1.0, 1.0), (2.0, 1.0)]), Some(2.0));
        assert_eq!(weighted_median(vec![(5.0, 10.0), (1.0, 1.0), (2.0, 1.0)]), Some(5.0));
        assert_eq!(weighted_median(vec![(1.0, 1.0), (2.0, 1.0)]), Some(1.0));
        assert_eq!(weighted_median(Vec::new()), None);
    }
}
