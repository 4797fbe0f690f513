//! Small hand-written SVG charts for the report: lines with shaded bands, bars, points, axes
//! with ticks, a legend. Self-contained (no fonts, scripts or links), so a report is one file.

use std::fmt::Write;

/// Escapes text for XML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// "Nice" tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater)
        || !lo.is_finite()
        || !hi.is_finite()
    {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One chart: a plotting area over `[x0, x1] × [y0, y1]`.
#[derive(Debug)]
pub struct Chart {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
    body: String,
    legend: Vec<(String, String, f64)>,
}

pub const BLUE: &str = "#1f5fbf";
pub const ORANGE: &str = "#d9730d";
pub const GREEN: &str = "#2e8b57";
pub const RED: &str = "#c0392b";
pub const GREY: &str = "#555555";
pub const PURPLE: &str = "#7b3fa0";

impl Chart {
    pub fn new(w: f64, h: f64, x: (f64, f64), y: (f64, f64)) -> Self {
        let pad = |(a, b): (f64, f64)| if b > a { (a, b) } else { (a - 1.0, a + 1.0) };
        Self {
            w,
            h,
            left: 64.0,
            right: 16.0,
            top: 40.0,
            bottom: 40.0,
            x: pad(x),
            y: pad(y),
            body: String::new(),
            legend: Vec::new(),
        }
    }

    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x.0) / (self.x.1 - self.x.0) * (self.w - self.left - self.right)
    }

    fn py(&self, y: f64) -> f64 {
        self.h
            - self.bottom
            - (y - self.y.0) / (self.y.1 - self.y.0) * (self.h - self.top - self.bottom)
    }

    /// A line through the finite points.
    pub fn line(&mut self, pts: &[(f64, f64)], color: &str, width: f64, label: Option<&str>) {
        let mut d = String::new();
        let mut pen = false;
        for &(x, y) in pts {
            if !(x.is_finite() && y.is_finite()) {
                pen = false;
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if pen { "L" } else { "M" },
                self.px(x),
                self.py(y)
            );
            pen = true;
        }
        let _ = writeln!(
            self.body,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}" stroke-linejoin="round"/>"#
        );
        if let Some(l) = label {
            self.legend.push((l.to_owned(), color.to_owned(), 1.0));
        }
    }

    /// A shaded band between `lo` and `hi` (same x).
    pub fn band(
        &mut self,
        pts: &[(f64, f64, f64)],
        color: &str,
        opacity: f64,
        label: Option<&str>,
    ) {
        let pts: Vec<&(f64, f64, f64)> = pts
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
            .collect();
        if pts.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, p) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                self.px(p.0),
                self.py(p.2)
            );
        }
        for p in pts.iter().rev() {
            let _ = write!(d, "L{:.1},{:.1} ", self.px(p.0), self.py(p.1));
        }
        let _ = writeln!(
            self.body,
            r#"<path d="{d}Z" fill="{color}" fill-opacity="{opacity}" stroke="none"/>"#
        );
        if let Some(l) = label {
            self.legend.push((l.to_owned(), color.to_owned(), opacity));
        }
    }

    /// Bars of width `bw` (in x units) centred on x, from 0.
    pub fn bars(&mut self, pts: &[(f64, f64)], bw: f64, color: &str) {
        for &(x, y) in pts.iter().filter(|p| p.1.is_finite()) {
            let (x0, x1) = (self.px(x - bw / 2.0), self.px(x + bw / 2.0));
            let (y0, y1) = (self.py(0f64.max(self.y.0)), self.py(y));
            let _ = writeln!(
                self.body,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}</title></rect>"#,
                x0.min(x1),
                y1.min(y0),
                (x1 - x0).abs(),
                (y0 - y1).abs(),
                fmt_num(y)
            );
        }
    }

    /// Dots of radius `r`, with a tooltip each.
    pub fn dots(&mut self, pts: &[(f64, f64, String)], r: f64, color: &str, label: Option<&str>) {
        for (x, y, tip) in pts.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
            let _ = writeln!(
                self.body,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{color}"><title>{}</title></circle>"#,
                self.px(*x),
                self.py(*y),
                esc(tip)
            );
        }
        if let Some(l) = label {
            self.legend.push((l.to_owned(), color.to_owned(), 1.0));
        }
    }

    /// Renders with axes: x ticks labelled by `xlabel(value)`.
    pub fn render(
        &self,
        title: &str,
        xname: &str,
        yname: &str,
        xlabel: &dyn Fn(f64) -> String,
    ) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11">"#,
            w = self.w,
            h = self.h,
            t = esc(title)
        );
        let _ = writeln!(
            o,
            r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#,
            self.w, self.h
        );
        let _ = writeln!(
            o,
            r#"<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>"#,
            self.left,
            esc(title)
        );
        for t in ticks(self.y.0, self.y.1, 5) {
            let y = self.py(t);
            let _ = writeln!(
                o,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                self.left,
                self.w - self.right,
                self.left - 6.0,
                y + 4.0,
                fmt_num(t)
            );
        }
        for t in ticks(self.x.0, self.x.1, 8) {
            let x = self.px(t);
            let _ = writeln!(
                o,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                self.h - self.bottom,
                self.h - self.bottom + 4.0,
                self.h - self.bottom + 16.0,
                esc(&xlabel(t))
            );
        }
        let _ = writeln!(
            o,
            r##"<line x1="{l}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}" stroke="#333"/><line x1="{l}" y1="{t}" x2="{l}" y2="{b:.1}" stroke="#333"/>"##,
            l = self.left,
            r = self.w - self.right,
            t = self.top,
            b = self.h - self.bottom
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (self.left + self.w - self.right) / 2.0,
            self.h - 6.0,
            esc(xname)
        );
        let _ = writeln!(
            o,
            r#"<text x="12" y="{:.1}" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text>"#,
            (self.top + self.h - self.bottom) / 2.0,
            (self.top + self.h - self.bottom) / 2.0,
            esc(yname)
        );
        o.push_str(&self.body);
        let mut lx = self.w - self.right - 8.0;
        for (label, color, opacity) in self.legend.iter().rev() {
            let width = 7.0 * label.chars().count() as f64 + 22.0;
            lx -= width;
            let _ = writeln!(
                o,
                r#"<rect x="{lx:.1}" y="22" width="12" height="10" fill="{color}" fill-opacity="{opacity}"/><text x="{:.1}" y="31">{}</text>"#,
                lx + 16.0,
                esc(label)
            );
        }
        o.push_str("</svg>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(3.2, 987.0, 5);
        assert!(
            t[0] >= 3.2 && *t.last().unwrap() <= 987.0 && t.len() >= 4,
            "{t:?}"
        );
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
