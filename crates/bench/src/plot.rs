//! The report's plot, as SVG: p99 latency against offered rate for each saturation
//! series (log scale), and the distribution of the fanout lag.

use std::fmt::Write;

/// A named line of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];
const W: f64 = 480.0;
const H: f64 = 320.0;
const PAD: f64 = 56.0;

/// One panel at (`ox`, 0): axes, ticks, lines, legend. `log_y` puts y on a log scale.
fn panel(
    svg: &mut String,
    ox: f64,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log: bool,
) {
    let log_y = log;
    let pts = series.iter().flat_map(|s| s.points.iter().copied());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, 0.0f64, f64::MAX, 0.0f64);
    for (x, y) in pts {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if x_max <= 0.0 {
        x_max = 1.0;
    }
    let ty = |y: f64| -> f64 {
        if log_y {
            y.max(1e-3).log10()
        } else {
            y
        }
    };
    let (lo, hi) = if log_y {
        (
            ty(y_min.min(y_max)).floor(),
            ty(y_max.max(1e-3))
                .ceil()
                .max(ty(y_min.min(y_max)).floor() + 1.0),
        )
    } else {
        (0.0, if y_max > 0.0 { y_max } else { 1.0 })
    };
    // Log panels are log on both axes: rates span a floor of tens of thousands and a
    // write path of hundreds.
    let tx = |x: f64| -> f64 {
        if log {
            x.max(1.0).log10()
        } else {
            x
        }
    };
    let (x_lo, x_hi) = if log {
        let lo = tx(x_min.min(x_max).max(1.0)).floor();
        (lo, tx(x_max).ceil().max(lo + 1.0))
    } else {
        (0.0, x_max)
    };
    let sx = |x: f64| ox + PAD + (tx(x) - x_lo) / (x_hi - x_lo) * (W - 1.5 * PAD);
    let sy = |y: f64| H - PAD - (ty(y) - lo) / (hi - lo) * (H - 1.8 * PAD);
    let _ = write!(
        svg,
        r##"<g font-family="sans-serif" font-size="11"><text x="{}" y="18" font-size="13" text-anchor="middle">{title}</text><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#000"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#000"/><text x="{}" y="{}" text-anchor="middle">{x_label}</text><text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{y_label}</text>"##,
        ox + W / 2.0,
        ox + W / 2.0,
        H - 12.0,
        ox + 14.0,
        H / 2.0,
        ox + 14.0,
        H / 2.0,
        x0 = ox + PAD,
        y0 = H - PAD,
        x1 = ox + W - PAD / 2.0,
        y1 = PAD * 0.8,
    );
    for x in ticks(log, x_lo, x_hi, x_max) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            sx(x),
            H - PAD + 14.0,
            short(x)
        );
    }
    for y in ticks(log_y, lo, hi, hi) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            ox + PAD - 4.0,
            sy(y) + 4.0,
            short(y),
            ox + PAD,
            sy(y),
            ox + W - PAD / 2.0,
            sy(y)
        );
    }
    for (k, s) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"##,
            path.join(" ")
        );
        for p in &path {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                svg,
                r##"<circle cx="{x}" cy="{y}" r="2.2" fill="{colour}"/>"##
            );
        }
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="10" height="3" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            ox + PAD + 8.0,
            PAD * 0.8 + 6.0 + 14.0 * k as f64,
            ox + PAD + 22.0,
            PAD * 0.8 + 10.0 + 14.0 * k as f64,
            escape(&s.name)
        );
    }
    svg.push_str("</g>");
}

/// Tick values: each power of ten from 10^`lo` to 10^`hi` on a log axis, else five from 0
/// to `max`.
fn ticks(log: bool, lo: f64, hi: f64, max: f64) -> Vec<f64> {
    if log {
        (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=4).map(|i| max * i as f64 / 4.0).collect()
    }
}

fn short(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The two panels side by side.
pub fn svg(latency: &[Series], lag: &[Series]) -> String {
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" viewBox="0 0 {} {H}"><rect width="100%" height="100%" fill="#fff"/>"##,
        2.0 * W,
        2.0 * W
    );
    panel(
        &mut svg,
        0.0,
        "p99 latency against offered rate",
        "offered rate (requests/s, log)",
        "p99 latency (ms, log)",
        latency,
        true,
    );
    panel(
        &mut svg,
        W,
        "fanout lag (201 to follower's home)",
        "lag (ms)",
        "share of samples at or below",
        lag,
        false,
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_is_svg_with_a_line_per_series() {
        let lat = [
            Series {
                name: "home".into(),
                points: vec![(1000.0, 1.5), (2000.0, 3.0), (4000.0, 80.0)],
            },
            Series {
                name: "floor <http>".into(),
                points: vec![(1000.0, 0.4)],
            },
        ];
        let lag = [Series {
            name: "500 posts/s".into(),
            points: vec![(5.0, 0.0), (20.0, 0.5), (90.0, 1.0)],
        }];
        let s = svg(&lat, &lag);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<polyline").count(), 3);
        assert!(s.contains("floor &lt;http&gt;"));
        assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
        // Empty input still draws the axes.
        let empty = svg(&[], &[]);
        assert!(!empty.contains("NaN") && empty.contains("</svg>"));
    }
}
