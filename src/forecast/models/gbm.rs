//! Gradient-boosted regression trees on histograms (the LightGBM recipe, squared error): features
//! are binned once into at most 127 quantile bins (and one for NaN), each tree grows leaf-wise up
//! to `leaves` leaves from gradient histograms (the larger child's histogram is the parent's minus
//! the smaller's), a feature mostly in one bin (a holiday flag, rain) adds only its other bins to a
//! histogram, missing values (NaN) learn their own direction at every split, and each tree sees
//! a deterministic subsample of rows. Given rows held out of training, boosting stops early: after
//! `early_stopping` trees in a row that did not lower the held-out error, the trees up to the
//! lowest are kept. Single-threaded and deterministic: the same data and parameters give the same
//! model.

use serde::{Deserialize, Serialize};

/// Training parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbmParams {
    pub trees: u16,
    pub learning_rate: f64,
    pub leaves: u16,
    pub min_leaf: u32,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Share of rows each tree is grown on.
    pub subsample: f64,
    pub seed: u64,
    /// Trees without a lower held-out error after which boosting stops, when rows are held out
    /// (0: never). Artifacts written before it existed read as 0.
    #[serde(default)]
    pub early_stopping: u16,
}

impl Default for GbmParams {
    fn default() -> Self {
        Self {
            trees: 150,
            learning_rate: 0.1,
            leaves: 20,
            min_leaf: 20,
            lambda: 1.0,
            subsample: 1.0,
            seed: 0,
            early_stopping: 20,
        }
    }
}

impl GbmParams {
    /// The direct model's: more and larger trees than the default (its rows carry no lead to
    /// learn, and every training hour is kept), each on 80% of the rows.
    pub fn direct() -> Self {
        Self {
            trees: 200,
            leaves: 31,
            subsample: 0.8,
            ..Self::default()
        }
    }
}

/// A split: rows with `x <= threshold` go left; NaN goes where training sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Split {
        feature: u16,
        threshold: f64,
        nan_left: bool,
        left: u32,
        right: u32,
    },
    Leaf {
        value: f64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf { value } => return *value,
                Node::Split {
                    feature,
                    threshold,
                    nan_left,
                    left,
                    right,
                } => {
                    let x = row[*feature as usize];
                    let go_left = if x.is_nan() {
                        *nan_left
                    } else {
                        x <= *threshold
                    };
                    i = if go_left { *left } else { *right } as usize;
                }
            }
        }
    }
}

/// A fitted ensemble.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gbm {
    base: f64,
    trees: Vec<Tree>,
    features: usize,
}

/// Rows held out of training to choose the number of trees: features (row-major), the scale a
/// prediction is multiplied by to be in demand units, and the demand. The error is the mean
/// absolute error of the scaled prediction, clipped at zero as forecasts are.
#[derive(Debug, Default)]
pub struct HeldOut {
    pub x: Vec<f64>,
    pub scale: Vec<f64>,
    pub y: Vec<f64>,
}

impl HeldOut {
    fn error(&self, base: f64, sums: &[f64]) -> f64 {
        sums.iter()
            .zip(&self.scale)
            .zip(&self.y)
            .map(|((s, k), y)| (k * (base + s)).max(0.0) - y)
            .map(f64::abs)
            .sum()
    }
}

const MAX_BINS: usize = 127;
/// Positions a flat histogram can have (they are stored as u16).
const HIST_POSITIONS: usize = u16::MAX as usize + 1;

/// Features binned column by column. A feature with `k` bin edges has codes `0..k` for values
/// (code `i` holds values up to `edges[i]`) and code `k` for NaN. `active` lists the features
/// with at least two edges (a constant column can never split); `offset[j]` is where active
/// feature `j`'s `k + 1` bins start in a flat histogram.
///
/// An active feature whose most frequent code holds at least [`SPARSE_SHARE`] of the rows (a
/// holiday flag, an event column, rain) is sparse: histograms add only its other codes, and its
/// most frequent bin is the rows' totals minus the others (LightGBM's `most_freq_bin`). About a
/// third of the active features of an hourly series are calendar flags (weekend, holiday, the
/// days around it), mostly 0.
struct Binned {
    cols: Vec<Vec<u8>>,
    edges: Vec<Vec<f64>>,
    active: Vec<usize>,
    offset: Vec<usize>,
    width: usize,
    /// The dense active features' bins, row by row (`dense` per row), as positions in the flat
    /// histogram (offset plus code): a histogram reads each row once.
    by_row: Vec<u16>,
    dense: usize,
    /// The sparse features' other codes, row by row: row `r`'s positions are
    /// `sparse_pos[sparse_start[r]..sparse_start[r + 1]]`.
    sparse_start: Vec<u32>,
    sparse_pos: Vec<u16>,
    /// Each sparse feature's bins (start, end) in the flat histogram and its most frequent bin.
    defaults: Vec<(usize, usize, usize)>,
    /// An active dense feature and its offset: its bins add up to a histogram's totals (see
    /// [`totals`]).
    summing: Option<(usize, usize)>,
}

/// The share of rows in one code from which a feature is sparse (see [`Binned`]).
const SPARSE_SHARE: f64 = 0.5;

fn bin_features(x: &[f64], rows: usize, features: usize) -> Binned {
    // Histogram positions are u16: with hundreds of features, each gets fewer bins so that all
    // of them fit (a feature left with one edge cannot split).
    let max_bins = MAX_BINS.min((HIST_POSITIONS / features.max(1)).saturating_sub(1).max(1));
    let mut cols = Vec::with_capacity(features);
    let mut edges = Vec::with_capacity(features);
    for f in 0..features {
        let mut values: Vec<f64> = (0..rows)
            .map(|r| x[r * features + f])
            .filter(|v| !v.is_nan())
            .collect();
        values.sort_unstable_by(f64::total_cmp);
        values.dedup();
        // Upper edges: every distinct value when few, else quantiles of the distinct values.
        let e: Vec<f64> = if values.len() <= max_bins {
            values
        } else {
            (1..=max_bins)
                .map(|k| values[(k * values.len() / max_bins).min(values.len()) - 1])
                .collect()
        };
        let nan = e.len() as u8;
        let col: Vec<u8> = (0..rows)
            .map(|r| {
                let v = x[r * features + f];
                if v.is_nan() {
                    nan
                } else {
                    e.partition_point(|edge| *edge < v)
                        .min(e.len().saturating_sub(1)) as u8
                }
            })
            .collect();
        cols.push(col);
        edges.push(e);
    }
    let active: Vec<usize> = (0..features).filter(|&f| edges[f].len() >= 2).collect();
    let mut offset = Vec::with_capacity(active.len());
    let mut width = 0;
    for &f in &active {
        offset.push(width);
        width += edges[f].len() + 1;
    }
    // Each active feature's most frequent code, when it is frequent enough to be left out.
    let mode: Vec<Option<u8>> = active
        .iter()
        .map(|&f| {
            let mut counts = [0usize; 256];
            for &code in &cols[f] {
                counts[code as usize] += 1;
            }
            let (code, n) = (0..256)
                .map(|c| (c, counts[c]))
                .max_by_key(|&(c, n)| (n, usize::MAX - c))?;
            (rows > 0 && n as f64 >= SPARSE_SHARE * rows as f64).then_some(code as u8)
        })
        .collect();
    let dense_cols: Vec<usize> = (0..active.len()).filter(|&j| mode[j].is_none()).collect();
    // The sparse features and their most frequent codes.
    let sparse_cols: Vec<(usize, u8)> = (0..active.len())
        .filter_map(|j| mode[j].map(|most| (j, most)))
        .collect();
    let k = dense_cols.len();
    let mut by_row = vec![0u16; rows * k];
    for (i, &j) in dense_cols.iter().enumerate() {
        for (r, &code) in cols[active[j]].iter().enumerate() {
            by_row[r * k + i] = (offset[j] + code as usize) as u16;
        }
    }
    let mut sparse_start = Vec::with_capacity(rows + 1);
    let mut sparse_pos = Vec::new();
    sparse_start.push(0u32);
    // Each sparse feature's codes, most frequent code and offset.
    let sparse: Vec<(&[u8], u8, usize)> = sparse_cols
        .iter()
        .map(|&(j, most)| (&cols[active[j]][..], most, offset[j]))
        .collect();
    for r in 0..rows {
        for &(col, most, off) in &sparse {
            if col[r] != most {
                sparse_pos.push((off + col[r] as usize) as u16);
            }
        }
        sparse_start.push(sparse_pos.len() as u32);
    }
    let defaults = sparse_cols
        .iter()
        .map(|&(j, most)| {
            let start = offset[j];
            let end = start + edges[active[j]].len() + 1;
            (start, end, start + usize::from(most))
        })
        .collect();
    let summing = dense_cols.first().map(|&j| (active[j], offset[j]));
    Binned {
        cols,
        edges,
        active,
        offset,
        width,
        by_row,
        dense: k,
        sparse_start,
        sparse_pos,
        defaults,
        summing,
    }
}

/// Gradient sum and weight per bin.
#[derive(Clone, Copy, Default)]
struct Bin {
    g: f64,
    w: f64,
}

struct Candidate {
    gain: f64,
    feature: usize,
    bin: usize,
    nan_left: bool,
}

/// Where a leaf's rows are: a range of one of the two buffers of [`Rows`].
#[derive(Clone, Copy)]
struct Span {
    side: usize,
    start: usize,
    len: usize,
}

/// The rows of a tree's leaves without an allocation per split: each leaf owns a range of one of
/// two buffers, and a split writes its children into the same range of the other buffer, the left
/// rows in order from its start and the right ones reversed from its end (branch-free: each row is
/// written at both ends and one end advances).
struct Rows {
    buf: [Vec<u32>; 2],
}

impl Rows {
    fn new(rows: usize) -> Self {
        Self {
            buf: [vec![0; rows], vec![0; rows]],
        }
    }

    fn get(&self, s: Span) -> &[u32] {
        &self.buf[s.side][s.start..s.start + s.len]
    }

    fn split(&mut self, s: Span, left: impl Fn(u32) -> bool) -> (Span, Span) {
        let [a, b] = &mut self.buf;
        let (src, dst) = if s.side == 0 { (a, b) } else { (b, a) };
        let src = &src[s.start..s.start + s.len];
        let dst = &mut dst[s.start..s.start + s.len];
        let (mut l, mut r_end) = (0usize, s.len);
        for &r in src {
            let go = left(r);
            dst[l] = r;
            dst[r_end - 1] = r;
            l += usize::from(go);
            r_end -= usize::from(!go);
        }
        let side = 1 - s.side;
        (
            Span {
                side,
                start: s.start,
                len: l,
            },
            Span {
                side,
                start: s.start + l,
                len: s.len - l,
            },
        )
    }
}

/// A leaf being grown: its rows (those in the tree's sample, and those outside it, which do not
/// shape the tree but land in its leaves) and its (flat) histogram.
struct Open {
    node: usize,
    rows: Span,
    oob: Span,
    hist: Vec<Bin>,
    g: f64,
    w: f64,
    best: Option<Candidate>,
}

/// What a fit reuses from tree to tree: row buffers and spare histograms.
struct Work {
    rows: Rows,
    oob: Rows,
    spare: Vec<Vec<Bin>>,
}

impl Gbm {
    /// Fits on `rows` rows of `features` values each (row-major; NaN is missing) with targets
    /// `y` and optional per-row weights.
    pub fn fit(
        x: &[f64],
        rows: usize,
        features: usize,
        y: &[f64],
        weights: Option<&[f64]>,
        p: &GbmParams,
    ) -> Self {
        Self::fit_held_out(x, rows, features, y, weights, p, &HeldOut::default())
    }

    /// As [`Gbm::fit`], stopping early on the error of `held_out` (see [`HeldOut`]) when it has
    /// rows and `p.early_stopping` is not 0. The model's [`Gbm::trees`] tells how many it kept.
    pub fn fit_held_out(
        x: &[f64],
        rows: usize,
        features: usize,
        y: &[f64],
        weights: Option<&[f64]>,
        p: &GbmParams,
        held_out: &HeldOut,
    ) -> Self {
        assert_eq!(x.len(), rows * features);
        assert_eq!(y.len(), rows);
        let ones = vec![1.0; rows];
        let w = weights.unwrap_or(&ones);
        let total_w: f64 = w.iter().sum();
        let base = if total_w > 0.0 {
            y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / total_w
        } else {
            0.0
        };
        let binned = bin_features(x, rows, features);
        let mut pred = vec![base; rows];
        let mut trees = Vec::with_capacity(p.trees as usize);
        let mut rng = p
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut grad = vec![0.0; rows];
        let mut work = Work {
            rows: Rows::new(rows),
            oob: Rows::new(rows),
            spare: Vec::new(),
        };
        let watch = p.early_stopping > 0 && !held_out.y.is_empty();
        assert_eq!(held_out.x.len(), held_out.y.len() * features);
        let mut sums = vec![0.0; held_out.y.len()];
        let (mut best_error, mut best_trees) = (f64::INFINITY, 0);
        for _ in 0..p.trees {
            // The tree's sample in row order; the rest out of it (branch-free, as in `Rows`).
            let (mut n_in, mut n_out) = (0usize, 0usize);
            if p.subsample >= 1.0 {
                for (i, r) in work.rows.buf[0].iter_mut().enumerate() {
                    *r = i as u32;
                }
                n_in = rows;
            } else {
                let (sample, oob) = (&mut work.rows.buf[0], &mut work.oob.buf[0]);
                for r in 0..rows {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let take = ((rng >> 11) as f64 / (1u64 << 53) as f64) < p.subsample;
                    sample[n_in] = r as u32;
                    oob[n_out] = r as u32;
                    n_in += usize::from(take);
                    n_out += usize::from(!take);
                }
            }
            // Squared error, weighted: the negative gradient is w (y - pred), the hessian w.
            for r in 0..rows {
                grad[r] = w[r] * (y[r] - pred[r]);
            }
            let span = |len| Span {
                side: 0,
                start: 0,
                len,
            };
            let (tree, leaves) = grow(&binned, &mut work, span(n_in), span(n_out), &grad, w, p);
            // Rows left out of this tree's sample followed the same splits to its leaves.
            for (rows, oob, value) in leaves {
                for &r in work.rows.get(rows).iter().chain(work.oob.get(oob)) {
                    pred[r as usize] += p.learning_rate * value;
                }
            }
            let tree = scale(tree, p.learning_rate);
            if watch {
                for (s, row) in sums.iter_mut().zip(held_out.x.chunks_exact(features)) {
                    *s += tree.predict(row);
                }
            }
            trees.push(tree);
            if watch {
                let e = held_out.error(base, &sums);
                if e < best_error {
                    (best_error, best_trees) = (e, trees.len());
                } else if trees.len() - best_trees >= usize::from(p.early_stopping) {
                    break;
                }
            }
        }
        if watch {
            trees.truncate(best_trees);
        }
        Self {
            base,
            trees,
            features,
        }
    }

    /// The number of trees (at most the `trees` it was fitted with).
    pub fn trees(&self) -> u16 {
        u16::try_from(self.trees.len()).unwrap_or(u16::MAX)
    }

    /// Predicts one row of `features` values.
    pub fn predict(&self, row: &[f64]) -> f64 {
        debug_assert_eq!(row.len(), self.features);
        self.base + self.trees.iter().map(|t| t.predict(row)).sum::<f64>()
    }
}

fn scale(mut tree: Tree, lr: f64) -> Tree {
    for n in &mut tree.nodes {
        if let Node::Leaf { value } = n {
            *value *= lr;
        }
    }
    tree
}

/// The histogram of `rows`, in a spare buffer when there is one.
fn histogram(
    b: &Binned,
    spare: &mut Vec<Vec<Bin>>,
    rows: &[u32],
    grad: &[f64],
    w: &[f64],
) -> Vec<Bin> {
    let mut hist = match spare.pop() {
        Some(mut h) => {
            h.fill(Bin::default());
            h
        }
        None => vec![Bin::default(); b.width],
    };
    let k = b.dense;
    let (mut total_g, mut total_w) = (0.0, 0.0);
    for &r in rows {
        let r = r as usize;
        let (g, wt) = (grad[r], w[r]);
        total_g += g;
        total_w += wt;
        for &i in &b.by_row[r * k..(r + 1) * k] {
            let bin = &mut hist[i as usize];
            bin.g += g;
            bin.w += wt;
        }
        for &i in &b.sparse_pos[b.sparse_start[r] as usize..b.sparse_start[r + 1] as usize] {
            let bin = &mut hist[i as usize];
            bin.g += g;
            bin.w += wt;
        }
    }
    for &(start, end, most) in &b.defaults {
        let (mut g, mut wt) = (total_g, total_w);
        for (i, bin) in hist[start..end].iter().enumerate() {
            if start + i != most {
                g -= bin.g;
                wt -= bin.w;
            }
        }
        hist[most] = Bin { g, w: wt };
    }
    hist
}

/// Best split of a leaf; the gain is the drop in weighted squared error, (G²/(W+λ)) terms.
fn best_split(
    b: &Binned,
    hist: &[Bin],
    g: f64,
    w: f64,
    p: &GbmParams,
    n_rows: usize,
) -> Option<Candidate> {
    if n_rows < 2 * p.min_leaf as usize {
        return None;
    }
    let score = |g: f64, w: f64| g * g / (w + p.lambda);
    let parent = score(g, w);
    let mut best: Option<Candidate> = None;
    // A split is better when score(left) + score(right) - parent > the best gain so far. The
    // test runs on every bin, so it is multiplied out, free of divisions: with a = wl + λ and
    // b = wr + λ (both positive), gl² b + gr² a > (best + parent) a b. The gain itself is
    // computed only for a split that passes.
    let mut bar = 1e-12 + parent;
    let min_w = f64::from(p.min_leaf) * (w / n_rows as f64) * 0.5;
    for (&f, &off) in b.active.iter().zip(&b.offset) {
        let nb = b.edges[f].len();
        let h = &hist[off..off + nb + 1];
        let nan = h[nb];
        // NaN rows go left or right; without any, one direction is the only split.
        let directions: &[bool] = if nan.w == 0.0 {
            &[false]
        } else {
            &[false, true]
        };
        for &nan_left in directions {
            let (mut gl, mut wl) = if nan_left { (nan.g, nan.w) } else { (0.0, 0.0) };
            for (bin, hb) in h[..nb - 1].iter().enumerate() {
                gl += hb.g;
                wl += hb.w;
                if wl < min_w {
                    continue;
                }
                let (gr, wr) = (g - gl, w - wl);
                if wr < min_w {
                    break; // the right side only shrinks from here
                }
                let (a, c) = (wl + p.lambda, wr + p.lambda);
                if gl * gl * c + gr * gr * a > bar * a * c {
                    let gain = score(gl, wl) + score(gr, wr) - parent;
                    if gain > best.as_ref().map_or(1e-12, |c| c.gain) {
                        bar = gain + parent;
                        best = Some(Candidate {
                            gain,
                            feature: f,
                            bin,
                            nan_left,
                        });
                    }
                }
            }
        }
    }
    best
}

/// The gradient and weight totals of `rows`, whose histogram is `hist`. Every row falls in one
/// bin of each feature, so a dense feature's bins add up to them; without one the rows are
/// summed.
fn totals(b: &Binned, hist: &[Bin], rows: &[u32], grad: &[f64], w: &[f64]) -> (f64, f64) {
    match b.summing {
        Some((f, off)) => hist[off..=off + b.edges[f].len()]
            .iter()
            .fold((0.0, 0.0), |(g, s), bin| (g + bin.g, s + bin.w)),
        None => rows.iter().fold((0.0, 0.0), |(g, s), &r| {
            (g + grad[r as usize], s + w[r as usize])
        }),
    }
}

/// The same totals as [`totals`], without the histogram: only the summing feature's bins are
/// built (row by row into each bin, then bin by bin, so the sums are the same to the bit).
fn totals_of_rows(b: &Binned, rows: &[u32], grad: &[f64], w: &[f64]) -> (f64, f64) {
    let Some((f, _)) = b.summing else {
        return totals(b, &[], rows, grad, w);
    };
    let col = &b.cols[f];
    let mut bins = vec![Bin::default(); b.edges[f].len() + 1];
    for &r in rows {
        let bin = &mut bins[col[r as usize] as usize];
        bin.g += grad[r as usize];
        bin.w += w[r as usize];
    }
    totals(b, &bins, rows, grad, w)
}

/// Grows one tree leaf-wise on the rows of `sample` (`oob`: the rows outside the sample) of
/// `work`'s buffers; returns it with each leaf's rows, in `work`, and value.
fn grow(
    b: &Binned,
    work: &mut Work,
    sample: Span,
    oob: Span,
    grad: &[f64],
    w: &[f64],
    p: &GbmParams,
) -> (Tree, Vec<(Span, Span, f64)>) {
    let mut nodes = vec![Node::Leaf { value: 0.0 }];
    let rows = work.rows.get(sample);
    let hist = histogram(b, &mut work.spare, rows, grad, w);
    let (g, wsum) = totals(b, &hist, rows, grad, w);
    let best = best_split(b, &hist, g, wsum, p, sample.len);
    let mut open = vec![Open {
        node: 0,
        rows: sample,
        oob,
        hist,
        g,
        w: wsum,
        best,
    }];
    let mut n_leaves = 1;
    while n_leaves < p.leaves as usize {
        // Split the open leaf whose best split gains most.
        let Some(pick) = open
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.best.as_ref().map(|c| (i, c.gain)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
        else {
            break;
        };
        let mut leaf = open.swap_remove(pick);
        let c = leaf.best.take().expect("picked with a split");
        let col = &b.cols[c.feature];
        // Which codes go left: those up to the split's bin, and NaN's code where it goes.
        let mut left = [false; 256];
        left[..=c.bin].fill(true);
        left[b.edges[c.feature].len()] = c.nan_left;
        let goes_left = |r: u32| left[col[r as usize] as usize];
        let (left_rows, right_rows) = work.rows.split(leaf.rows, goes_left);
        let (left_oob, right_oob) = work.oob.split(leaf.oob, goes_left);
        n_leaves += 1;
        // After the tree's last split, or one whose children are both too small to split, the
        // children stay leaves: only their totals matter.
        let splittable = |s: Span| s.len >= 2 * p.min_leaf as usize;
        let last =
            n_leaves == p.leaves as usize || !(splittable(left_rows) || splittable(right_rows));
        let left_small = left_rows.len <= right_rows.len;
        let small_rows = work
            .rows
            .get(if left_small { left_rows } else { right_rows });
        // Unless they stay leaves, the smaller child's histogram is built, the larger's is the
        // parent's minus it.
        let (small_hist, (gs, ws)) = if last {
            (Vec::new(), totals_of_rows(b, small_rows, grad, w))
        } else {
            let h = histogram(b, &mut work.spare, small_rows, grad, w);
            let t = totals(b, &h, small_rows, grad, w);
            (h, t)
        };
        let mut large_hist = std::mem::take(&mut leaf.hist);
        if !last {
            for (x, y) in large_hist.iter_mut().zip(&small_hist) {
                x.g -= y.g;
                x.w -= y.w;
            }
        }
        let (gb, wb) = (leaf.g - gs, leaf.w - ws);
        let ((left_hist, gl, wl), (right_hist, gr, wr)) = if left_small {
            ((small_hist, gs, ws), (large_hist, gb, wb))
        } else {
            ((large_hist, gb, wb), (small_hist, gs, ws))
        };
        let (li, ri) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node::Leaf { value: 0.0 });
        nodes.push(Node::Leaf { value: 0.0 });
        nodes[leaf.node] = Node::Split {
            feature: c.feature as u16,
            threshold: b.edges[c.feature][c.bin],
            nan_left: c.nan_left,
            left: li as u32,
            right: ri as u32,
        };
        let (lb, rb) = if last {
            (None, None)
        } else {
            (
                best_split(b, &left_hist, gl, wl, p, left_rows.len),
                best_split(b, &right_hist, gr, wr, p, right_rows.len),
            )
        };
        open.push(Open {
            node: li,
            best: lb,
            rows: left_rows,
            oob: left_oob,
            hist: left_hist,
            g: gl,
            w: wl,
        });
        open.push(Open {
            node: ri,
            best: rb,
            rows: right_rows,
            oob: right_oob,
            hist: right_hist,
            g: gr,
            w: wr,
        });
    }
    let mut leaves = Vec::with_capacity(open.len());
    for o in open {
        let value = o.g / (o.w + p.lambda);
        nodes[o.node] = Node::Leaf { value };
        if o.hist.len() == b.width {
            work.spare.push(o.hist);
        }
        leaves.push((o.rows, o.oob, value));
    }
    (Tree { nodes }, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut s = 12345u64;
        for _ in 0..n {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let a = (s >> 11) as f64 / (1u64 << 53) as f64;
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let b = (s >> 11) as f64 / (1u64 << 53) as f64;
            x.extend([a, b]);
            y.push(if a > 0.5 { 10.0 } else { 0.0 } + 4.0 * b * b);
        }
        (x, y)
    }

    #[test]
    fn boosting_fits_a_step_and_a_curve_far_better_than_the_mean() {
        let (x, y) = data(2000);
        let m = Gbm::fit(&x, 2000, 2, &y, None, &GbmParams::default());
        let mae: f64 = (0..2000)
            .map(|r| (m.predict(&x[r * 2..r * 2 + 2]) - y[r]).abs())
            .sum::<f64>()
            / 2000.0;
        let mean = y.iter().sum::<f64>() / 2000.0;
        let base: f64 = y.iter().map(|v| (v - mean).abs()).sum::<f64>() / 2000.0;
        assert!(mae < base / 20.0, "mae {mae} vs mean baseline {base}");
    }

    #[test]
    fn missing_values_learn_their_own_direction() {
        // y is 5 where x is NaN, 0 where x < 0.5, 1 otherwise.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..600 {
            let v = (i % 100) as f64 / 100.0;
            if i % 3 == 0 {
                x.push(f64::NAN);
                y.push(5.0);
            } else {
                x.push(v);
                y.push(if v < 0.5 { 0.0 } else { 1.0 });
            }
        }
        let p = GbmParams {
            subsample: 1.0,
            ..GbmParams::default()
        };
        let m = Gbm::fit(&x, 600, 1, &y, None, &p);
        assert!((m.predict(&[f64::NAN]) - 5.0).abs() < 0.1);
        assert!(m.predict(&[0.2]).abs() < 0.1);
        assert!((m.predict(&[0.9]) - 1.0).abs() < 0.1);
    }

    /// Rows of a dense feature, a holiday-like flag (1 in 20 rows), a rain-like column (zero in 3
    /// rows of 4) and a column that is mostly missing.
    fn mixed(n: usize) -> Vec<f64> {
        let mut s = 99u64;
        let mut x = Vec::with_capacity(n * 4);
        for r in 0..n {
            let u = crate::bench::uniform(&mut s);
            x.extend([
                (r % 24) as f64,
                f64::from(u8::from(r % 20 == 3)),
                if r % 4 == 0 { 10.0 * u } else { 0.0 },
                if r % 10 == 0 { u } else { f64::NAN },
            ]);
        }
        x
    }

    #[test]
    fn sparse_features_bins_match_a_direct_count() {
        let n = 1000;
        let x = mixed(n);
        let b = bin_features(&x, n, 4);
        assert_eq!(b.active.len(), 4);
        assert_eq!(b.dense, 1, "only the hour is dense");
        assert_eq!(
            b.defaults.len(),
            3,
            "flag, rain and the missing column are sparse"
        );
        let mut s = 5u64;
        let grad: Vec<f64> = (0..n).map(|_| crate::bench::normal(&mut s)).collect();
        let w: Vec<f64> = (0..n)
            .map(|_| 0.5 + crate::bench::uniform(&mut s))
            .collect();
        // Every third row, as a leaf holds some rows.
        let rows: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 1).collect();
        let hist = histogram(&b, &mut Vec::new(), &rows, &grad, &w);
        for (j, &f) in b.active.iter().enumerate() {
            for code in 0..=b.edges[f].len() {
                let (mut g, mut wt) = (0.0, 0.0);
                for &r in &rows {
                    if b.cols[f][r as usize] as usize == code {
                        g += grad[r as usize];
                        wt += w[r as usize];
                    }
                }
                let bin = hist[b.offset[j] + code];
                assert!(
                    (bin.g - g).abs() < 1e-9 && (bin.w - wt).abs() < 1e-9,
                    "feature {f} code {code}: {} {} against {g} {wt}",
                    bin.g,
                    bin.w
                );
            }
        }
        let (g, wt) = totals(&b, &hist, &rows, &grad, &w);
        let (g2, wt2) = totals_of_rows(&b, &rows, &grad, &w);
        assert_eq!((g.to_bits(), wt.to_bits()), (g2.to_bits(), wt2.to_bits()));
    }

    #[test]
    fn hundreds_of_features_share_the_histogram_positions() {
        // 700 continuous features of 300 distinct values: 127 bins each would need 89,600
        // positions, more than a u16 holds.
        let (n, k) = (300, 700);
        let x: Vec<f64> = (0..n * k)
            .map(|i| (((i / k) * 11 + (i % k) * 13) % 307) as f64)
            .collect();
        let b = bin_features(&x, n, k);
        assert_eq!(b.active.len(), k);
        assert!(b.width <= HIST_POSITIONS, "width {}", b.width);
        let grad = vec![1.0; n];
        let rows: Vec<u32> = (0..n as u32).collect();
        let hist = histogram(&b, &mut Vec::new(), &rows, &grad, &grad);
        // Every feature's bins hold every row once.
        for (j, &f) in b.active.iter().enumerate() {
            let bins = &hist[b.offset[j]..=b.offset[j] + b.edges[f].len()];
            assert_eq!(
                bins.iter().map(|h| h.w).sum::<f64>(),
                n as f64,
                "feature {f}"
            );
        }
    }

    #[test]
    fn a_rare_flag_is_learnt() {
        let n = 2000;
        let x = mixed(n);
        // Demand doubles on the flagged rows and rises with rain.
        let y: Vec<f64> = x
            .chunks_exact(4)
            .map(|r| 10.0 * (1.0 + r[1]) + r[2])
            .collect();
        let m = Gbm::fit(&x, n, 4, &y, None, &GbmParams::default());
        assert!((m.predict(&[5.0, 1.0, 0.0, f64::NAN]) - 20.0).abs() < 1.0);
        assert!((m.predict(&[5.0, 0.0, 0.0, f64::NAN]) - 10.0).abs() < 1.0);
        assert!((m.predict(&[5.0, 0.0, 8.0, 0.5]) - 18.0).abs() < 1.5);
    }

    #[test]
    fn the_same_data_gives_the_same_model() {
        let (x, y) = data(500);
        let a = Gbm::fit(&x, 500, 2, &y, None, &GbmParams::default());
        let b = Gbm::fit(&x, 500, 2, &y, None, &GbmParams::default());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }

    #[test]
    fn a_subsample_drawn_from_another_seed_gives_another_model_and_the_whole_sample_does_not() {
        let (x, y) = data(500);
        let fit = |subsample: f64, seed: u64| {
            let p = GbmParams {
                subsample,
                seed,
                ..GbmParams::default()
            };
            serde_json::to_string(&Gbm::fit(&x, 500, 2, &y, None, &p)).unwrap()
        };
        assert_ne!(fit(0.8, 0), fit(0.8, 1));
        assert_eq!(fit(0.8, 1), fit(0.8, 1));
        assert_eq!(fit(1.0, 0), fit(1.0, 1));
    }

    /// A step learnt from noisy labels, held out against the noise-free step: past some trees
    /// the ensemble fits the noise and the held-out error rises again.
    fn noisy_step() -> (Vec<f64>, Vec<f64>, HeldOut) {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut s = 7u64;
        let mut u = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..400 {
            let a = u();
            x.push(a);
            y.push(if a > 0.5 { 10.0 } else { 0.0 } + 8.0 * (u() - 0.5));
        }
        let held = HeldOut {
            x: (0..200).map(|i| f64::from(i) / 200.0).collect(),
            scale: vec![1.0; 200],
            y: (0..200).map(|i| if i > 100 { 10.0 } else { 0.0 }).collect(),
        };
        (x, y, held)
    }

    #[test]
    fn early_stopping_keeps_the_trees_up_to_the_lowest_held_out_error() {
        let (x, y, held) = noisy_step();
        let p = GbmParams {
            trees: 300,
            learning_rate: 0.3,
            min_leaf: 3,
            early_stopping: 20,
            ..GbmParams::default()
        };
        let full = Gbm::fit(&x, 400, 1, &y, None, &p);
        let stopped = Gbm::fit_held_out(&x, 400, 1, &y, None, &p, &held);
        assert_eq!(
            full.trees(),
            300,
            "without held-out rows every tree is grown"
        );
        // The held-out error of every prefix of the full ensemble.
        let errors: Vec<f64> = (1..=300)
            .map(|k| {
                let sums: Vec<f64> = held
                    .x
                    .iter()
                    .map(|v| full.trees[..k].iter().map(|t| t.predict(&[*v])).sum())
                    .collect();
                held.error(full.base, &sums)
            })
            .collect();
        let kept = usize::from(stopped.trees());
        assert!(kept > 0 && kept + 20 < 300, "kept {kept} of 300 trees");
        let e = errors[kept - 1];
        assert!(
            errors[..kept - 1].iter().all(|v| *v > e),
            "an earlier count was as good"
        );
        assert!(
            errors[kept..kept + 20].iter().all(|v| *v >= e),
            "stopped too soon"
        );
        assert!(
            e < errors[299],
            "the noise was not overfitted: {e} vs {}",
            errors[299]
        );
        // Refitting with the trees kept gives the same model, to the byte.
        let refit = Gbm::fit(
            &x,
            400,
            1,
            &y,
            None,
            &GbmParams {
                trees: stopped.trees(),
                ..p
            },
        );
        assert_eq!(
            serde_json::to_string(&refit).unwrap(),
            serde_json::to_string(&stopped).unwrap()
        );
        // Early stopping off: every tree, held-out rows or not.
        let off = GbmParams {
            early_stopping: 0,
            ..p
        };
        assert_eq!(
            Gbm::fit_held_out(&x, 400, 1, &y, None, &off, &held).trees(),
            300
        );
    }
}
