//! The confidence gate: a recommendation is applied only when its forecast point's confidence
//! reaches the target's threshold; otherwise it is published with decision `hold` and why.

use super::recommend::{Decision, HoldReason};

/// Apply at `confidence >= threshold`, else hold with both numbers.
///
/// ```
/// use prescale::scaling::{policy::gate, Decision};
/// assert_eq!(gate(0.8, 0.8), Decision::Apply);
/// assert!(matches!(gate(0.79, 0.8), Decision::Hold(_)));
/// ```
pub fn gate(confidence: f64, threshold: f64) -> Decision {
    if confidence >= threshold {
        Decision::Apply
    } else {
        Decision::Hold(HoldReason::LowConfidence {
            confidence,
            threshold,
        })
    }
}
