//! A seasonal profile model (the decomposition model proper is `mstl`): the seasonal profile is
//! the mean of the same hour over the last `cycles` periods, and the level change since then is
//! applied, damped. Robust where demand is regular and the features of the learners add noise.

use serde::{Deserialize, Serialize};

use super::naive;
use crate::forecast::features::Windows;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub period: u16,
    pub cycles: u8,
    /// 0: ignore the level change; 1: apply it whole.
    pub damping: f64,
}

impl Profile {
    pub fn forecast(&self, w: &Windows, p: usize, end: usize) -> Vec<f64> {
        let period = usize::from(self.period);
        let pi = p as i64;
        // Level now against the level at the same point of the averaged cycles.
        let now = w.mean(pi - 24, pi).0;
        let then: Vec<f64> = (1..=i64::from(self.cycles))
            .map(|k| {
                w.mean(pi - 24 - k * period as i64, pi - k * period as i64)
                    .0
            })
            .filter(|v| !v.is_nan() && *v > 0.0)
            .collect();
        let ratio = if then.is_empty() || now.is_nan() {
            1.0
        } else {
            (now / (then.iter().sum::<f64>() / then.len() as f64)).powf(self.damping)
        };
        (p..end)
            .map(|t| {
                let mut vals = Vec::with_capacity(usize::from(self.cycles));
                let mut back = period;
                while vals.len() < usize::from(self.cycles) && back <= t {
                    let s = t - back;
                    if s < p && !w.at(s).is_nan() {
                        vals.push(w.at(s));
                    }
                    back += period;
                }
                if vals.is_empty() {
                    naive::seasonal(w.values(), p, t, period)
                } else {
                    ratio * vals.iter().sum::<f64>() / vals.len() as f64
                }
            })
            .collect()
    }
}
