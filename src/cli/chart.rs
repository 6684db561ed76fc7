//! The frame of the SVG line charts the CLI draws (`noc --sweep` latency curves, `train --plot`
//! learning curves): document, title, axes with "nice" ticks, axis labels.

pub use sim::report::xml_escape;
use std::fmt::Write as _;

/// A chart's canvas and data ranges: `x` and `y` are the data values at the plot area's edges.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Canvas width and height (SVG user units).
    pub size: (f64, f64),
    /// Margins around the plot area: left, right, top, bottom.
    pub margins: (f64, f64, f64, f64),
    /// Data range of the x axis, `(min, max)`, `min < max`.
    pub x: (f64, f64),
    /// Data range of the y axis, `(min, max)`, `min < max`.
    pub y: (f64, f64),
}

impl Frame {
    /// Plot-area width.
    fn pw(&self) -> f64 {
        self.size.0 - self.margins.0 - self.margins.1
    }

    /// Plot-area height.
    fn ph(&self) -> f64 {
        self.size.1 - self.margins.2 - self.margins.3
    }

    /// Canvas x of data value `x`.
    pub fn px(&self, x: f64) -> f64 {
        self.margins.0 + (x - self.x.0) / (self.x.1 - self.x.0) * self.pw()
    }

    /// Canvas y of data value `y`, clamped to the plot area.
    pub fn py(&self, y: f64) -> f64 {
        let y = y.clamp(self.y.0, self.y.1);
        self.margins.2 + self.ph() - (y - self.y.0) / (self.y.1 - self.y.0) * self.ph()
    }

    /// Right edge of the plot area.
    pub fn right(&self) -> f64 {
        self.margins.0 + self.pw()
    }

    /// Top edge of the plot area.
    pub fn top(&self) -> f64 {
        self.margins.2
    }

    /// Opens the document: white background and the centred `title` (XML-escaped).
    pub fn open(&self, title: &str) -> String {
        let (w, h) = self.size;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>",
            w / 2.0,
            xml_escape(title)
        );
        s
    }

    /// Draws both axes with a tick every `step` data units (`(x step, y step)`, from each
    /// range's minimum) and the axis labels.
    pub fn axes(&self, s: &mut String, step: (f64, f64), xlabel: &str, ylabel: &str) {
        let (left, bottom) = (self.margins.0, self.margins.2 + self.ph());
        let _ = writeln!(
            s,
            "<path d=\"M{left},{} V{bottom} H{}\" fill=\"none\" stroke=\"black\"/>",
            self.top(),
            self.right()
        );
        for x in ticks(self.x, step.0) {
            let tx = self.px(x);
            let _ = writeln!(
                s,
                "<line x1=\"{tx:.1}\" y1=\"{bottom}\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"black\"/>\
                 <text x=\"{tx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                bottom + 5.0,
                bottom + 19.0,
                fmt_tick(x)
            );
        }
        for y in ticks(self.y, step.1) {
            let ty = self.py(y);
            let _ = writeln!(
                s,
                "<line x1=\"{}\" y1=\"{ty:.1}\" x2=\"{left}\" y2=\"{ty:.1}\" stroke=\"black\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - 5.0,
                left - 8.0,
                ty + 4.0,
                fmt_tick(y)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            left + self.pw() / 2.0,
            self.size.1 - 12.0,
            xml_escape(xlabel)
        );
        let mid = self.top() + self.ph() / 2.0;
        let _ = writeln!(
            s,
            "<text x=\"18\" y=\"{mid}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {mid})\">\
             {}</text>",
            xml_escape(ylabel)
        );
    }
}

/// Tick positions `min, min + step, …` up to `max` (with a little slack for rounding).
fn ticks((min, max): (f64, f64), step: f64) -> Vec<f64> {
    if !(step > 0.0 && step.is_finite()) {
        return vec![min, max];
    }
    let n = ((max - min) / step + 1e-6).floor() as usize;
    (0..=n).map(|k| min + k as f64 * step).collect()
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` intervals over `span`.
pub fn tick_step(span: f64, n: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A tick label: at most three decimals, trailing zeros dropped.
pub fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_and_labels() {
        assert_eq!(tick_step(0.5, 5.0), 0.1);
        assert_eq!(tick_step(37.0, 5.0), 10.0);
        assert_eq!(tick_step(12.0, 5.0), 5.0);
        assert_eq!(tick_step(0.0, 5.0), 1.0);
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_tick(40.0), "40");
        assert_eq!(fmt_tick(-0.0), "0");
        assert_eq!(
            ticks((80.0, 100.0), 5.0),
            vec![80.0, 85.0, 90.0, 95.0, 100.0]
        );
    }

    #[test]
    fn frame_maps_the_ranges_onto_the_plot_area() {
        let f = Frame {
            size: (640.0, 420.0),
            margins: (70.0, 20.0, 40.0, 55.0),
            x: (0.0, 10.0),
            y: (50.0, 100.0),
        };
        assert_eq!(f.px(0.0), 70.0);
        assert_eq!(f.px(10.0), 620.0);
        assert_eq!(f.py(100.0), 40.0);
        assert_eq!(f.py(50.0), 365.0);
        // Values outside the range are drawn at the edge.
        assert_eq!(f.py(0.0), 365.0);
        let mut s = f.open("a <b> & c");
        f.axes(&mut s, (2.0, 10.0), "epoch", "accuracy (%)");
        assert!(s.contains("a &lt;b&gt; &amp; c"));
        assert_eq!(s.matches("<line").count(), 6 + 6);
    }
}
