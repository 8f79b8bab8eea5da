//! Sweep results (JSON lines from `relay-bench --sweep`) as an SVG chart of
//! p50 and p99 latency against offered rate, one colour per series. Plain
//! SVG written by hand: no plotting dependency for one chart.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

/// One measured point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub offered: f64,
    pub delivered: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Groups open-mode load results into series: by `label`, else by store and nodes.
pub fn series(lines: &str) -> BTreeMap<String, Vec<Point>> {
    let mut out: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let load = &v["load"];
        let Some(offered) = load["offered_rate"].as_f64() else {
            continue;
        };
        let name = v["label"].as_str().map(String::from).unwrap_or_else(|| {
            let nodes = v["nodes"].as_u64().unwrap_or(1);
            format!(
                "{} store, {nodes} node{}",
                v["store"].as_str().unwrap_or("?"),
                if nodes == 1 { "" } else { "s" }
            )
        });
        let lat = &load["latency_us"];
        out.entry(name).or_default().push(Point {
            offered,
            delivered: load["relays_per_sec"].as_f64().unwrap_or(0.0),
            p50_ms: lat["p50"].as_f64().unwrap_or(0.0) / 1000.0,
            p99_ms: lat["p99"].as_f64().unwrap_or(0.0) / 1000.0,
        });
    }
    for points in out.values_mut() {
        points.sort_by(|a, b| a.offered.total_cmp(&b.offered));
    }
    out
}

const W: f64 = 1000.0;
const H: f64 = 500.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 330.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// A round step giving about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn label_rate(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", v / 1000.0)
    } else {
        format!("{v}")
    }
}

fn label_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Renders the chart. A point whose delivered rate fell below 95% of the
/// offered rate is drawn as a cross: the relay could not keep up there.
pub fn svg(title: &str, series: &BTreeMap<String, Vec<Point>>) -> String {
    let all: Vec<&Point> = series.values().flatten().collect();
    let max_x = all.iter().map(|p| p.offered).fold(1.0, f64::max);
    let step_x = nice_step(max_x, 8.0);
    let max_x = (max_x / step_x).ceil() * step_x;
    let ys = all
        .iter()
        .flat_map(|p| [p.p50_ms, p.p99_ms])
        .filter(|v| *v > 0.0);
    let lo = ys.clone().fold(f64::INFINITY, f64::min);
    let hi = ys.fold(0.0, f64::max);
    let (lo_exp, hi_exp) = if lo.is_finite() {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    } else {
        (-1.0, 2.0)
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |v: f64| LEFT + v / max_x * pw;
    let y = |ms: f64| {
        let l = ms.max(10f64.powf(lo_exp)).log10();
        TOP + ph - (l - lo_exp) / (hi_exp - lo_exp) * ph
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        escape(title)
    );
    // Grid and axes.
    let mut t = 0.0;
    while t <= max_x + 1e-9 {
        let gx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#eee"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            label_rate(t)
        );
        t += step_x;
    }
    let mut e = lo_exp;
    while e <= hi_exp + 1e-9 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(e);
            if v > 10f64.powf(hi_exp) * 1.001 {
                continue;
            }
            let gy = y(v);
            let stroke = if m == 1.0 { "#ccc" } else { "#f2f2f2" };
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="{stroke}"/>"#,
                LEFT + pw
            );
            if m == 1.0 || hi_exp - lo_exp <= 2.0 {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LEFT - 6.0,
                    gy + 4.0,
                    label_ms(v)
                );
            }
        }
        e += 1.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">offered load (relays/s)</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">latency, party send to other party (ms, log scale)</text>"#,
        TOP + ph / 2.0
    );

    // Series.
    for (i, (name, points)) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        for (pick, dash) in [(0, "5 4"), (1, "")] {
            let path: Vec<String> = points
                .iter()
                .map(|p| {
                    let v = if pick == 0 { p.p50_ms } else { p.p99_ms };
                    format!("{:.1},{:.1}", x(p.offered), y(v))
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                path.join(" ")
            );
            for p in points {
                let v = if pick == 0 { p.p50_ms } else { p.p99_ms };
                let (px, py) = (x(p.offered), y(v));
                if p.delivered < 0.95 * p.offered {
                    let _ = writeln!(
                        s,
                        r#"<path d="M{:.1},{:.1}l8,8m0,-8l-8,8" stroke="{c}" stroke-width="2"/>"#,
                        px - 4.0,
                        py - 4.0
                    );
                } else {
                    let _ = writeln!(s, r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{c}"/>"#);
                }
            }
        }
        let ly = TOP + 10.0 + i as f64 * 40.0;
        let lx = LEFT + pw + 16.0;
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{ly:.1}" fill="{c}">{}</text>"#,
            escape(name)
        );
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}" stroke-width="2"/><text x="{:.1}" y="{:.1}">p99</text>"#,
            ly + 12.0,
            lx + 24.0,
            ly + 12.0,
            lx + 28.0,
            ly + 16.0
        );
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}" stroke-width="2" stroke-dasharray="5 4"/><text x="{:.1}" y="{:.1}">p50</text>"#,
            lx + 60.0,
            ly + 12.0,
            lx + 84.0,
            ly + 12.0,
            lx + 88.0,
            ly + 16.0
        );
    }
    let ny = TOP + 10.0 + series.len() as f64 * 40.0 + 10.0;
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{ny:.1}" fill="#555">× delivered &lt; 95% of offered</text>"##,
        LEFT + pw + 16.0
    );
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_lines_become_series_and_an_svg() {
        let lines = r#"{"store":"embedded","nodes":1,"load":{"offered_rate":2000,"relays_per_sec":2000,"latency_us":{"p50":800,"p99":2500}}}
{"store":"embedded","nodes":1,"load":{"offered_rate":1000,"relays_per_sec":1000,"latency_us":{"p50":700,"p99":1500}}}
{"label":"redis 3 nodes","store":"redis","nodes":3,"load":{"offered_rate":1000,"relays_per_sec":600,"latency_us":{"p50":900,"p99":90000}}}
{"kind":"idle","idle":{}}
"#;
        let s = series(lines);
        assert_eq!(s.len(), 2);
        let emb = &s["embedded store, 1 node"];
        assert_eq!(emb[0].offered, 1000.0);
        assert_eq!(emb[1].p99_ms, 2.5);
        let svg = svg("t", &s);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("redis 3 nodes"));
        assert_eq!(svg.matches("<polyline").count(), 4);
    }
}
