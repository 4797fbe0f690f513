//! The boosted model: gradient-boosted trees on the features of `features.rs`, predicting demand
//! as a multiple of the origin's level.

use serde::{Deserialize, Serialize};

use super::gbm::{Gbm, GbmParams};
use super::{Holdout, ScaledRows, mix, scaled_forecast};
use crate::forecast::features::{self, FeatureSet, Windows};
use crate::forecast::frame::Frame;

/// Training hours kept at most (the most recent), to bound fit time on long histories.
pub(crate) const MAX_HOURS: usize = 24 * 7 * 104;
/// Training hours kept whole before thinning older ones.
const RECENT_HOURS: usize = 24 * 7 * 8;
/// The longest lead trained for.
pub(crate) const MAX_LEAD: usize = 24;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Boosted {
    pub features: FeatureSet,
    gbm: Gbm,
}

/// Training rows: for each observed hour, `leads_per_row` leads chosen by a hash of the hour, so
/// lead is not tied to hour of day.
pub(crate) fn training_rows(
    frame: &Frame,
    w: &Windows,
    end: usize,
    leads_per_row: u8,
    max_hours: usize,
) -> ScaledRows {
    let first = end.saturating_sub(max_hours).max(48);
    let mut rows = ScaledRows::default();
    let mut row = Vec::new();
    for t in first..end {
        // All of the recent weeks; a third of older hours, chosen by hash: last year's holidays
        // stay in, and fit time grows a third as fast with history.
        if frame.y[t].is_nan()
            || (t + RECENT_HOURS < end && !mix(t as u64, 0x7e11).is_multiple_of(3))
        {
            continue;
        }
        for j in 0..u64::from(leads_per_row) {
            let h = 1 + (mix(t as u64, j) % MAX_LEAD as u64) as usize;
            let Some(p) = (t + 1).checked_sub(h).filter(|p| *p >= 24) else {
                continue;
            };
            let lvl = features::row(frame, w, p, t, &mut row);
            if !lvl.is_nan() {
                rows.push(&row, frame.y[t], lvl);
            }
        }
    }
    rows
}

impl Boosted {
    pub fn fit(
        frame: &Frame,
        w: &Windows,
        end: usize,
        params: &GbmParams,
        leads_per_row: u8,
        holdout: Option<&Holdout>,
    ) -> Self {
        let features = FeatureSet::for_frame(frame);
        let rows = training_rows(frame, w, end, leads_per_row, MAX_HOURS);
        let held = holdout
            .map(|h| h.rows(frame, |q, t, r| features::row(frame, w, q, t, r)))
            .unwrap_or_default();
        let gbm = rows.fit_gbm(features.len(), params, &held);
        Self { features, gbm }
    }

    /// The number of trees.
    pub fn trees(&self) -> u16 {
        self.gbm.trees()
    }

    pub fn forecast(&self, frame: &Frame, w: &Windows, p: usize, end: usize) -> Vec<f64> {
        scaled_forecast(&self.gbm, w.values(), p, end, |t, r| {
            features::row(frame, w, p, t, r)
        })
    }
}
