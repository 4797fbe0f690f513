//! Seasonal naive: the same hour one period back, the yardstick every model must beat.

/// `y(t - m * period)` for the smallest `m >= 1` that lands before the origin `p` on an observed
/// hour; else the last observed hour before `p`; else NaN.
pub(super) fn seasonal(y: &[f64], p: usize, t: usize, period: usize) -> f64 {
    let mut back = period;
    while back <= t {
        let s = t - back;
        if s < p && !y[s].is_nan() {
            return y[s];
        }
        back += period;
    }
    y[..p.min(y.len())]
        .iter()
        .rev()
        .copied()
        .find(|v| !v.is_nan())
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_steps_back_whole_periods_past_the_origin_and_gaps() {
        let mut y: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(seasonal(&y, 50, 55, 24), 31.0); // 55-24 = 31 < 50
        assert_eq!(seasonal(&y, 50, 75, 24), 27.0); // 75-24 = 51 is not known: 75-48
        y[31] = f64::NAN;
        assert_eq!(seasonal(&y, 50, 55, 24), 7.0);
        assert_eq!(
            seasonal(&y, 50, 10, 24),
            49.0,
            "no whole period back: the last value"
        );
    }
}
