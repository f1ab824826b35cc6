//! SVG charts for docs/benchmarks.md, written by hand: a few rectangles, lines and
//! labels need no plotting library, and plain SVG renders on GitHub and in any
//! browser.
//!
//! - [`ratios`]: one horizontal bar per benchmark, Kestrel/Linux on a log scale
//!   around 1 (left of the line, Kestrel is ahead), so 0.5× and 2× are the same
//!   length either way.
//! - [`scaling`]: throughput against CPU count, a line per kernel, with the
//!   perfect-scaling line from each kernel's 1-CPU point for reference.

use std::fmt::Write;

const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";
const KESTREL: &str = "#1f77b4";
const LINUX: &str = "#ff7f0e";
const AHEAD: &str = "#2ca02c";
const BEHIND: &str = "#d62728";
/// The ratio chart reaches 2^MAX_SPAN either way; longer bars are cut there
/// and say their value inside.
const MAX_SPAN: f64 = 5.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One bar: the benchmark, Kestrel/Linux, and whether lower is better for it
/// (a cost) or higher (a rate).
pub struct Ratio {
    pub name: String,
    pub ratio: f64,
    pub lower_is_better: bool,
}

/// Kestrel/Linux per benchmark; bars to the left of 1 are where Kestrel is ahead
/// (for a rate, the ratio is turned over so that the same holds).
pub fn ratios(title: &str, rows: &[Ratio]) -> String {
    let rows: Vec<&Ratio> = rows
        .iter()
        .filter(|r| r.ratio.is_finite() && r.ratio > 0.0)
        .collect();
    let (label_w, plot_w, bar_h, top) = (260.0, 420.0, 22.0, 50.0);
    let height = top + rows.len() as f64 * bar_h + 50.0;
    let width = label_w + plot_w + 80.0;
    // The scale: log2 of the (ahead-is-left) ratio, symmetric, at least ±2×.
    let span = rows
        .iter()
        .map(|r| ahead_ratio(r).log2().abs())
        .fold(1.0f64, f64::max)
        .ceil()
        .min(MAX_SPAN);
    let x = |v: f64| label_w + plot_w / 2.0 + v.log2().clamp(-span, span) / span * (plot_w / 2.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" {FONT}>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"{}\" y=\"38\" text-anchor=\"middle\" fill=\"#555\">left of 1×: Kestrel ahead \
         (faster, smaller, or more done); right: behind</text>",
        width / 2.0,
        esc(title),
        width / 2.0
    );
    // Grid lines at powers of two.
    let span_i = span as i32;
    // Every power of two on a narrow scale, every other one on a wide one.
    let step = if span_i > 3 { 2 } else { 1 };
    for p in (-span_i..=span_i).filter(|p| p % step == 0) {
        let v = 2f64.powi(p);
        let gx = x(v);
        let label = if p >= 0 {
            format!("{}×", 1u64 << p)
        } else {
            format!("1/{}", 1u64 << -p)
        };
        let _ = writeln!(
            s,
            "<line x1=\"{gx:.1}\" y1=\"{top}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"{}\" \
             stroke-width=\"{}\"/>\n\
             <text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{label}</text>",
            height - 40.0,
            if p == 0 { "#000" } else { "#ddd" },
            if p == 0 { 1.5 } else { 1.0 },
            height - 25.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * bar_h;
        let v = ahead_ratio(r);
        let (x0, x1) = (x(1.0), x(v));
        let (left, w) = if x1 < x0 {
            (x1, x0 - x1)
        } else {
            (x0, x1 - x0)
        };
        let colour = if v <= 1.0 { AHEAD } else { BEHIND };
        // A bar cut at the edge carries its value inside, in white.
        let cut = v.log2().abs() > span;
        let shown = if r.lower_is_better {
            format!("{:.2}", r.ratio)
        } else {
            format!("{:.2} (rate)", r.ratio)
        };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\" fill=\"{}\">{shown}</text>",
            label_w - 8.0,
            y + bar_h * 0.7,
            esc(&r.name),
            y + 3.0,
            w.max(1.0),
            bar_h - 6.0,
            match (v <= 1.0, cut) {
                (true, false) => left - 4.0,
                (true, true) => left + 4.0,
                (false, false) => left + w + 4.0,
                (false, true) => left + w - 4.0,
            },
            y + bar_h * 0.7,
            if (v <= 1.0) != cut { "end" } else { "start" },
            if cut { "white" } else { "black" }
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The ratio turned so that below 1 is always Kestrel ahead.
fn ahead_ratio(r: &Ratio) -> f64 {
    if r.lower_is_better {
        r.ratio
    } else {
        1.0 / r.ratio
    }
}

/// Throughput at each CPU count for Kestrel and Linux (`None`: not measured).
pub fn scaling(
    title: &str,
    unit: &str,
    cpus: &[u32],
    kestrel: &[Option<f64>],
    linux: &[Option<f64>],
) -> String {
    let (w, h, left, right, top, bottom) = (560.0, 340.0, 80.0, 130.0, 40.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let max_cpu = f64::from(*cpus.iter().max().unwrap_or(&1));
    // Perfect scaling from each 1-CPU point, to the largest CPU count.
    let perfect = |base: Option<f64>| base.map(|b| b * max_cpu);
    let ymax = kestrel
        .iter()
        .chain(linux)
        .flatten()
        .copied()
        .chain(perfect(kestrel.first().copied().flatten()))
        .chain(perfect(linux.first().copied().flatten()))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.05;
    let px = |c: f64| left + (c - 1.0) / (max_cpu - 1.0).max(1.0) * pw;
    let py = |v: f64| top + ph - v / ymax * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" {FONT}>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">{}</text>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"#000\"/>\n\
         <line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">CPUs</text>\n\
         <text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">{}</text>",
        (left + pw / 2.0),
        esc(title),
        top + ph,
        top + ph,
        left + pw,
        top + ph,
        left + pw / 2.0,
        h - 12.0,
        top + ph / 2.0,
        top + ph / 2.0,
        esc(unit)
    );
    for &c in cpus {
        let x = px(f64::from(c));
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#000\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{c}</text>",
            top + ph,
            top + ph + 5.0,
            top + ph + 20.0
        );
    }
    for i in 0..=4 {
        let v = ymax / 1.05 * f64::from(i) / 4.0;
        let y = py(v);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 6.0,
            y + 4.0,
            short(v)
        );
    }
    let mut legend = 0;
    for (name, colour, values) in [("Kestrel", KESTREL, kestrel), ("Linux", LINUX, linux)] {
        let pts: Vec<(f64, f64)> = cpus
            .iter()
            .zip(values)
            .filter_map(|(&c, v)| v.map(|v| (px(f64::from(c)), py(v))))
            .collect();
        if pts.is_empty() {
            continue;
        }
        if let Some(Some(base)) = values.first() {
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" \
                 stroke-dasharray=\"4 4\" stroke-opacity=\"0.5\"/>",
                px(1.0),
                py(*base),
                px(max_cpu),
                py(base * max_cpu)
            );
        }
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for (x, y) in &pts {
            let _ = writeln!(
                s,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\"/>"
            );
        }
        let ly = top + 10.0 + f64::from(legend) * 20.0;
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
            left + pw + 10.0,
            left + pw + 30.0,
            left + pw + 35.0,
            ly + 4.0
        );
        legend += 1;
    }
    let ly = top + 10.0 + f64::from(legend) * 20.0;
    let _ = writeln!(
        s,
        "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"#888\" stroke-dasharray=\"4 4\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\">perfect</text>\n</svg>",
        left + pw + 10.0,
        left + pw + 30.0,
        left + pw + 35.0,
        ly + 4.0
    );
    s
}

/// A number in few characters: 12345 -> 12.3k.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_bars_point_left_when_kestrel_is_ahead() {
        let svg = ratios(
            "t",
            &[
                Ratio {
                    name: "fast".into(),
                    ratio: 0.5,
                    lower_is_better: true,
                },
                Ratio {
                    name: "slow <x>".into(),
                    ratio: 2.0,
                    lower_is_better: true,
                },
                Ratio {
                    name: "rate".into(),
                    ratio: 2.0,
                    lower_is_better: false,
                },
                Ratio {
                    name: "missing".into(),
                    ratio: f64::NAN,
                    lower_is_better: true,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches(AHEAD).count(),
            2,
            "0.5 cost and 2.0 rate are ahead"
        );
        assert_eq!(svg.matches(BEHIND).count(), 1);
        assert!(svg.contains("slow &lt;x&gt;") && !svg.contains("missing"));
    }

    #[test]
    fn scaling_draws_a_line_per_kernel_with_its_points() {
        let svg = scaling(
            "pipes",
            "roundtrips/s",
            &[1, 2, 4],
            &[Some(10.0), Some(19.0), Some(30.0)],
            &[Some(12.0), None, Some(40.0)],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.contains(">Kestrel<") && svg.contains(">Linux<"));
    }
}
