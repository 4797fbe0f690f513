//! STL, the seasonal-trend decomposition by loess (Cleveland, Cleveland, McRae & Terpenning 1990),
//! for the decomposition model: the non-robust inner loop of the netlib Fortran, as `stlrs` ports
//! it, with seasonal degree 0 and trend and low-pass degree 1.
//!
//! One change, for speed: a loess fit whose window lies inside the series and is symmetric about
//! its point (most points of the trend and low-pass smoothers) is a fixed weighted mean, so its
//! weights are computed once per smoother instead of at every point. A test holds the result to
//! `stlrs`'s within 1e-9.

/// A loess smoother: window `len` (odd), local polynomial of degree `deg` (0 or 1), evaluated
/// every `jump` points and interpolated between.
struct Loess {
    len: usize,
    deg: u8,
    jump: usize,
    /// Normalized tricube weights of a window symmetric about its point, offsets -half..=half.
    kernel: Vec<f64>,
    /// The weights of any other window, reused from fit to fit.
    weights: Vec<f64>,
}

impl Loess {
    fn new(len: usize, deg: u8, jump: usize) -> Self {
        let half = (len - 1) / 2;
        let h = half as f64;
        let mut kernel: Vec<f64> = (0..len)
            .map(|i| tricube(i.abs_diff(half) as f64, h))
            .collect();
        let sum: f64 = kernel.iter().sum();
        for k in &mut kernel {
            *k /= sum;
        }
        Self {
            len,
            deg,
            jump,
            kernel,
            weights: Vec::with_capacity(len),
        }
    }

    /// The fit at `xs` (1-based, as the Fortran) of `y[..n]` from the points `nleft..=nright`
    /// (None: no weight in the window).
    fn est(&mut self, y: &[f64], n: usize, xs: usize, nleft: usize, nright: usize) -> Option<f64> {
        let half = (self.len - 1) / 2;
        if self.len <= n && xs >= nleft && xs - nleft == half && nright == xs + half {
            // Symmetric inside the series: the degree-1 correction vanishes.
            let window = &y[nleft - 1..nright];
            return Some(window.iter().zip(&self.kernel).map(|(v, k)| v * k).sum());
        }
        let xs = xs as f64;
        let (left, right) = (nleft as f64, nright as f64);
        let mut h = (xs - left).max(right - xs);
        if self.len > n {
            h += ((self.len - n) / 2) as f64;
        }
        let w = &mut self.weights;
        w.clear();
        w.extend((nleft..=nright).map(|j| tricube((j as f64 - xs).abs(), h)));
        let a: f64 = w.iter().sum();
        if a <= 0.0 {
            return None;
        }
        for v in w.iter_mut() {
            *v /= a;
        }
        if h > 0.0 && self.deg > 0 {
            let center: f64 = w.iter().zip(nleft..).map(|(v, j)| v * j as f64).sum();
            let c: f64 = w
                .iter()
                .zip(nleft..)
                .map(|(v, j)| v * (j as f64 - center).powi(2))
                .sum();
            if c.sqrt() > 0.001 * (n as f64 - 1.0) {
                let b = (xs - center) / c;
                for (v, j) in w.iter_mut().zip(nleft..) {
                    *v *= b * (j as f64 - center) + 1.0;
                }
            }
        }
        Some(
            w.iter()
                .zip(&y[nleft - 1..nright])
                .map(|(v, y)| v * y)
                .sum(),
        )
    }

    /// Smooths `y[..n]` into `ys[..n]`.
    fn smooth(&mut self, y: &[f64], n: usize, ys: &mut [f64]) {
        if n < 2 {
            ys[0] = y[0];
            return;
        }
        let len = self.len;
        let jump = self.jump.min(n - 1);
        let (mut nleft, mut nright) = (0, 0);
        let mut fit = |i: usize, nleft: usize, nright: usize, ys: &mut [f64]| {
            ys[i - 1] = self.est(y, n, i, nleft, nright).unwrap_or(y[i - 1]);
        };
        if len >= n {
            (nleft, nright) = (1, n);
            for i in (1..=n).step_by(jump) {
                fit(i, nleft, nright, ys);
            }
        } else if jump == 1 {
            let nsh = len.div_ceil(2);
            (nleft, nright) = (1, len);
            for i in 1..=n {
                if i > nsh && nright != n {
                    nleft += 1;
                    nright += 1;
                }
                fit(i, nleft, nright, ys);
            }
        } else {
            let nsh = len.div_ceil(2);
            for i in (1..=n).step_by(jump) {
                (nleft, nright) = if i < nsh {
                    (1, len)
                } else if i > n - nsh {
                    (n - len + 1, n)
                } else {
                    (i - nsh + 1, len + i - nsh)
                };
                fit(i, nleft, nright, ys);
            }
        }
        if jump != 1 {
            let mut i = 1;
            while i <= n - jump {
                let delta = (ys[i + jump - 1] - ys[i - 1]) / jump as f64;
                for j in i + 1..i + jump {
                    ys[j - 1] = ys[i - 1] + delta * (j - i) as f64;
                }
                i += jump;
            }
            let k = ((n - 1) / jump) * jump + 1;
            if k != n {
                // The last point, with the last window evaluated (as the Fortran does).
                fit(n, nleft, nright, ys);
                if k != n - 1 {
                    let delta = (ys[n - 1] - ys[k - 1]) / (n - k) as f64;
                    for j in k + 1..n {
                        ys[j - 1] = ys[k - 1] + delta * (j - k) as f64;
                    }
                }
            }
        }
    }
}

fn tricube(r: f64, h: f64) -> f64 {
    if r <= 0.001 * h {
        1.0
    } else if r <= 0.999 * h {
        (1.0 - (r / h).powi(3)).powi(3)
    } else {
        0.0
    }
}

/// Moving average of `x[..n]` over `len` points into `ave[..n - len + 1]`.
fn moving_average(x: &[f64], n: usize, len: usize, ave: &mut [f64]) {
    let mut v: f64 = x[..len].iter().sum();
    ave[0] = v / len as f64;
    for m in 0..n - len {
        v = v - x[m] + x[len + m];
        ave[m + 1] = v / len as f64;
    }
}

/// The seasonal and trend components of `y` with period `np` and seasonal window `ns` (odd),
/// with STL's defaults otherwise: trend window the odd number at or above
/// `1.5 np / (1 - 1.5 / ns)`, low-pass window the odd number at or above `np`, and every smoother
/// evaluated every tenth of its window. `y` must hold at least two periods.
pub(super) fn decompose(y: &[f64], np: usize, ns: usize) -> (Vec<f64>, Vec<f64>) {
    let nt = (1.5 * np as f64 / (1.0 - 1.5 / ns as f64)).ceil() as usize | 1;
    let nl = np | 1;
    decompose_with(y, np, (ns, nt, nl), (nt.div_ceil(10), nl.div_ceil(10)))
}

/// [`decompose`] with windows `ns` (seasonal), `nt` (trend) and `nl` (low-pass), all odd, the
/// trend and low-pass smoothers evaluated every `ntjump` and `nljump` points (the seasonal one
/// every tenth of its window).
fn decompose_with(
    y: &[f64],
    np: usize,
    (ns, nt, nl): (usize, usize, usize),
    (ntjump, nljump): (usize, usize),
) -> (Vec<f64>, Vec<f64>) {
    let n = y.len();
    debug_assert!(n >= 2 * np && ns % 2 == 1 && nt % 2 == 1 && nl % 2 == 1);
    let mut seasonal_loess = Loess::new(ns, 0, ns.div_ceil(10));
    let mut low_pass = Loess::new(nl, 1, nljump);
    let mut trend_loess = Loess::new(nt, 1, ntjump);
    let mut season = vec![0.0; n];
    let mut trend = vec![0.0; n];
    let mut detrended = vec![0.0; n];
    let mut cycles = vec![0.0; n + 2 * np];
    let (mut sub, mut sub_fit) = (Vec::new(), Vec::new());
    let (mut ma1, mut ma2) = (vec![0.0; n + 2 * np], vec![0.0; n + 2 * np]);
    let mut low = vec![0.0; n];
    for _ in 0..2 {
        for i in 0..n {
            detrended[i] = y[i] - trend[i];
        }
        // Cycle-subseries: each phase's values smoothed across cycles, and extended by one
        // cycle at either end.
        for j in 1..=np {
            let k = (n - j) / np + 1;
            sub.clear();
            sub.extend((0..k).map(|i| detrended[i * np + j - 1]));
            sub_fit.resize(k + 2, 0.0);
            seasonal_loess.smooth(&sub, k, &mut sub_fit[1..]);
            sub_fit[0] = seasonal_loess
                .est(&sub, k, 0, 1, ns.min(k))
                .unwrap_or(sub_fit[1]);
            sub_fit[k + 1] = seasonal_loess
                .est(&sub, k, k + 1, (k + 1).saturating_sub(ns).max(1), k)
                .unwrap_or(sub_fit[k]);
            for (m, v) in sub_fit.iter().enumerate() {
                cycles[m * np + j - 1] = *v;
            }
        }
        // Low-pass filter of the cycle-subseries: moving averages (np, np, 3), then loess.
        let m = n + 2 * np;
        moving_average(&cycles, m, np, &mut ma1);
        moving_average(&ma1, m - np + 1, np, &mut ma2);
        moving_average(&ma2, m - 2 * np + 2, 3, &mut ma1);
        low_pass.smooth(&ma1, n, &mut low);
        for i in 0..n {
            season[i] = cycles[np + i] - low[i];
            detrended[i] = y[i] - season[i];
        }
        trend_loess.smooth(&detrended, n, &mut trend);
    }
    (season, trend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_stlrs_stl_to_1e_9() {
        let mut s = 3u64;
        for (n, np, ns, nt, nl, tj, lj) in [
            (1344, 168, 15, 281, 169, 57, 34),
            (1344, 24, 11, 43, 25, 9, 5),
            (1000, 168, 15, 281, 169, 29, 17),
            (700, 24, 11, 43, 25, 1, 1),
            (400, 168, 11, 281, 169, 57, 34),
            (70, 24, 11, 43, 25, 5, 3),
        ] {
            let y: Vec<f64> = (0..n)
                .map(|t| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let noise = (s >> 11) as f64 / (1u64 << 53) as f64;
                    100.0
                        + 0.05 * t as f64
                        + 30.0 * ((t % 24) as f64 / 3.8).sin()
                        + 8.0 * ((t % 168) / 24) as f64
                        + 20.0 * noise
                })
                .collect();
            let (season, trend) = decompose_with(&y, np, (ns, nt, nl), (tj, lj));
            let theirs = stlrs::StlParams::new()
                .seasonal_length(ns)
                .trend_length(nt)
                .low_pass_length(nl)
                .trend_jump(tj)
                .low_pass_jump(lj)
                .fit(&y, np)
                .unwrap();
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
                    .fold(0.0, f64::max)
            };
            let (es, et) = (
                close(&season, theirs.seasonal()),
                close(&trend, theirs.trend()),
            );
            assert!(es < 1e-9 && et < 1e-9, "n {n} np {np}: {es} {et}");
            // STL's default windows and jumps, for the seasonal windows the decomposition
            // model uses.
            if (np, ns) == (24, 11) || (np, ns) == (168, 15) {
                let (season, trend) = decompose(&y, np, ns);
                let theirs = stlrs::StlParams::new()
                    .seasonal_length(ns)
                    .fit(&y, np)
                    .unwrap();
                let (es, et) = (
                    close(&season, theirs.seasonal()),
                    close(&trend, theirs.trend()),
                );
                assert!(es < 1e-9 && et < 1e-9, "defaults, n {n} np {np}: {es} {et}");
            }
        }
    }
}
