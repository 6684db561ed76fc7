//! Learning curves of `spikemesh train`: one row per epoch, kept in memory, written as CSV
//! (`--history`) and drawn as an SVG chart (`--plot`) after every epoch. Both files are
//! replaced atomically, so an interrupted run leaves complete files for the epochs it finished.

use super::chart::{tick_step, xml_escape, Frame};
use anyhow::{bail, Context};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One epoch as `spikemesh train` prints it (accuracies as fractions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRow {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Accuracy on the training samples of the epoch, as decoded before each update.
    pub train_accuracy: f64,
    /// Mean training loss of the epoch.
    pub mean_loss: f64,
    /// Test accuracy, ties decided as the chip decides them (lowest index, or the learned tie
    /// order under `--tie-order`, after the crossing potentials under `--ties-by-potential`).
    pub test_accuracy: f64,
    /// Test accuracy with a tie that includes the label counted as correct (S4NN / BS4NN
    /// reference scoring); `None` for rules that do not report it.
    pub test_accuracy_ties: Option<f64>,
    /// Training time of the epoch, seconds.
    pub seconds: f64,
    /// Accuracy on the held-out validation images (`--validation`), decoded as the chip
    /// decodes; `None` without a validation set.
    pub validation_accuracy: Option<f64>,
    /// Under `--tie-order` or `--ties-by-potential`: the test accuracy with ties to the lowest
    /// index alone instead; `None` otherwise.
    pub test_accuracy_lowest_index: Option<f64>,
}

/// The epochs so far and where to write them.
#[derive(Debug)]
pub struct History {
    title: String,
    rows: Vec<EpochRow>,
    csv: Option<PathBuf>,
    plot: Option<PathBuf>,
}

impl History {
    /// A history for a run called `title`, written to `csv` and `plot` when given. Refuses a
    /// path whose directory does not exist now, rather than after the first epoch.
    pub fn new(title: String, csv: Option<PathBuf>, plot: Option<PathBuf>) -> anyhow::Result<Self> {
        for (flag, path) in [("--history", &csv), ("--plot", &plot)] {
            if let Some(p) = path {
                check_writable_dir(flag, p)?;
            }
        }
        Ok(Self {
            title,
            rows: Vec::new(),
            csv,
            plot,
        })
    }

    /// Appends `row` and rewrites the files.
    pub fn record(&mut self, row: EpochRow) -> anyhow::Result<()> {
        self.rows.push(row);
        if let Some(p) = &self.csv {
            isa::output::write_atomic(p, self.csv().as_bytes())
                .with_context(|| format!("--history {}: cannot write the CSV", p.display()))?;
        }
        if let Some(p) = &self.plot {
            isa::output::write_atomic(p, self.svg().as_bytes())
                .with_context(|| format!("--plot {}: cannot write the SVG", p.display()))?;
        }
        Ok(())
    }

    /// The epoch with the highest test accuracy (the earliest of equals).
    pub fn best(&self) -> Option<&EpochRow> {
        self.earliest_highest(|r| Some(r.test_accuracy))
    }

    /// The epoch with the highest validation accuracy (the earliest of equals): the one
    /// `--validation` saves. `None` without validation figures.
    pub fn best_validation(&self) -> Option<&EpochRow> {
        self.earliest_highest(|r| r.validation_accuracy)
    }

    /// The earliest row with the highest `score` among the rows that have one.
    fn earliest_highest(&self, score: fn(&EpochRow) -> Option<f64>) -> Option<&EpochRow> {
        self.rows
            .iter()
            .filter_map(|r| score(r).map(|v| (r, v)))
            .fold(None, |best: Option<(&EpochRow, f64)>, (r, v)| match best {
                Some((b, bv)) if bv >= v => Some((b, bv)),
                _ => Some((r, v)),
            })
            .map(|(r, _)| r)
    }

    /// The CSV text: a header and one row per epoch, accuracies in percent.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "epoch,train_accuracy_pct,mean_loss,test_accuracy_pct,test_accuracy_ties_pct,seconds,\
             validation_accuracy_pct,test_accuracy_lowest_index_pct\n",
        );
        for r in &self.rows {
            let pct = |v: Option<f64>| v.map_or(String::new(), |t| format!("{:.4}", 100.0 * t));
            let (ties, validation) = (pct(r.test_accuracy_ties), pct(r.validation_accuracy));
            let lowest = pct(r.test_accuracy_lowest_index);
            let _ = writeln!(
                s,
                "{},{:.4},{:.6},{:.4},{ties},{:.2},{validation},{lowest}",
                r.epoch,
                100.0 * r.train_accuracy,
                r.mean_loss,
                100.0 * r.test_accuracy,
                r.seconds
            );
        }
        s
    }

    /// The chart: train and test accuracy (and the tie-inclusive score when recorded) against
    /// the epoch, a marker with its value per test point, the best epoch ringed and named.
    pub fn svg(&self) -> String {
        let pct = |v: f64| 100.0 * v;
        let values: Vec<f64> = self
            .rows
            .iter()
            .flat_map(|r| {
                [
                    Some(r.train_accuracy),
                    Some(r.test_accuracy),
                    r.test_accuracy_ties,
                    r.validation_accuracy,
                ]
                .into_iter()
                .flatten()
                .map(pct)
            })
            .collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() {
            (lo, hi)
        } else {
            (0.0, 100.0)
        };
        let ys = tick_step((hi - lo).max(1.0), 5.0);
        let ymin = ((lo / ys).floor() * ys).max(0.0);
        let ymax = ((hi / ys).ceil() * ys).clamp(ymin + ys, 100f64.max(ymin + ys));
        let n = self.rows.len().max(1) as f64;
        let xs = tick_step(n, 8.0).max(1.0);
        let frame = Frame {
            size: (720.0, 450.0),
            margins: (70.0, 20.0, 50.0, 55.0),
            x: (0.0, (n / xs).ceil() * xs),
            y: (ymin, ymax),
        };
        let mut s = frame.open(&self.title);
        frame.axes(&mut s, (xs, ys), "epoch", "accuracy (%)");
        let series = [
            Series {
                name: "train",
                colour: "#ff7f0e",
                dash: "",
                value: |r| Some(r.train_accuracy),
            },
            Series {
                name: "test, ties as correct",
                colour: "#9ecae1",
                dash: " stroke-dasharray=\"5 4\"",
                value: |r| r.test_accuracy_ties,
            },
            Series {
                name: "test",
                colour: "#1f77b4",
                dash: "",
                value: |r| Some(r.test_accuracy),
            },
            Series {
                name: "validation",
                colour: "#2ca02c",
                dash: "",
                value: |r| r.validation_accuracy,
            },
        ];
        let mut legend = 0;
        for Series {
            name,
            colour,
            dash,
            value,
        } in series
        {
            let points: Vec<(usize, f64)> = self
                .rows
                .iter()
                .filter_map(|r| value(r).map(|v| (r.epoch, pct(v))))
                .collect();
            if points.is_empty() {
                continue;
            }
            let line: Vec<String> = points
                .iter()
                .map(|&(e, v)| format!("{:.1},{:.1}", frame.px(e as f64), frame.py(v)))
                .collect();
            let _ = writeln!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>",
                line.join(" ")
            );
            for &(e, v) in &points {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\">\
                     <title>epoch {e}, {}: {v:.2} %</title></circle>",
                    frame.px(e as f64),
                    frame.py(v),
                    xml_escape(name)
                );
            }
            let (lx, ly) = (
                frame.px(0.0) + 12.0,
                frame.top() + 16.0 + 16.0 * legend as f64,
            );
            let _ = writeln!(
                s,
                "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{colour}\" \
                 stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>",
                lx + 24.0,
                lx + 30.0,
                ly + 4.0,
                xml_escape(name)
            );
            legend += 1;
        }
        // A ring on one epoch's point and its caption, right-aligned above the plot.
        let mut ring = |epoch: usize, value: f64, colour: &str, caption_y: f64, caption: String| {
            let (cx, cy) = (frame.px(epoch as f64), frame.py(value));
            let _ = writeln!(
                s,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"6\" fill=\"none\" stroke=\"{colour}\" \
                 stroke-width=\"2\"/><text x=\"{}\" y=\"{caption_y}\" text-anchor=\"end\" \
                 fill=\"{colour}\">{caption}</text>",
                frame.right(),
            );
        };
        if let Some(b) = self.best() {
            let t = pct(b.test_accuracy);
            ring(
                b.epoch,
                t,
                "#d62728",
                frame.top() - 8.0,
                format!("best test: {t:.2} % (epoch {})", b.epoch),
            );
        }
        if let Some(b) = self.best_validation() {
            let v = pct(b.validation_accuracy.unwrap_or_default());
            ring(
                b.epoch,
                v,
                "#2ca02c",
                frame.top() + 10.0,
                format!(
                    "saved: best validation {v:.2} % (epoch {}), test {:.2} %",
                    b.epoch,
                    pct(b.test_accuracy)
                ),
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// One line of the chart: its legend name, stroke and the value it reads from a row.
struct Series {
    name: &'static str,
    colour: &'static str,
    /// Extra stroke attributes (a dash pattern), or empty.
    dash: &'static str,
    value: fn(&EpochRow) -> Option<f64>,
}

/// Refuses `path` when it names no file or its directory does not exist.
fn check_writable_dir(flag: &str, path: &Path) -> anyhow::Result<()> {
    if path.file_name().is_none() {
        bail!("{flag} {}: names no file", path.display());
    }
    let dir = isa::output::output_dir(path);
    if !dir.is_dir() {
        bail!(
            "{flag} {}: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, test: f64, ties: Option<f64>) -> EpochRow {
        EpochRow {
            epoch,
            train_accuracy: test - 0.01,
            mean_loss: 0.5 / epoch as f64,
            test_accuracy: test,
            test_accuracy_ties: ties,
            seconds: 1.25,
            validation_accuracy: None,
            test_accuracy_lowest_index: None,
        }
    }

    #[test]
    fn best_is_the_earliest_highest_test_accuracy() {
        let mut h = History::new("t".into(), None, None).unwrap();
        assert!(h.best().is_none());
        for (e, a) in [(1, 0.8), (2, 0.9), (3, 0.85), (4, 0.9)] {
            h.record(row(e, a, None)).unwrap();
        }
        assert_eq!(h.best().unwrap().epoch, 2);
    }

    #[test]
    fn csv_has_one_row_per_epoch_and_an_empty_ties_field_when_not_scored() {
        let mut h = History::new("t".into(), None, None).unwrap();
        h.record(row(1, 0.5, Some(0.55))).unwrap();
        h.record(row(2, 0.75, None)).unwrap();
        let csv = h.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], "1,49.0000,0.500000,50.0000,55.0000,1.25,,");
        assert_eq!(lines[2], "2,74.0000,0.250000,75.0000,,1.25,,");
        h.record(EpochRow {
            validation_accuracy: Some(0.625),
            ..row(3, 0.75, None)
        })
        .unwrap();
        assert_eq!(
            h.csv().lines().nth(3),
            Some("3,74.0000,0.166667,75.0000,,1.25,62.5000,")
        );
        h.record(EpochRow {
            test_accuracy_lowest_index: Some(0.7),
            ..row(4, 0.75, Some(0.8))
        })
        .unwrap();
        assert_eq!(
            h.csv().lines().nth(4),
            Some("4,74.0000,0.125000,75.0000,80.0000,1.25,,70.0000")
        );
    }

    #[test]
    fn best_validation_is_the_earliest_highest_and_is_ringed_on_the_chart() {
        let mut h = History::new("t".into(), None, None).unwrap();
        h.record(row(1, 0.9, None)).unwrap();
        assert!(h.best_validation().is_none(), "no validation figures");
        assert!(!h.svg().contains("best validation"));
        for (e, test, val) in [(2, 0.7, 0.8), (3, 0.95, 0.7), (4, 0.6, 0.8)] {
            h.record(EpochRow {
                validation_accuracy: Some(val),
                ..row(e, test, None)
            })
            .unwrap();
        }
        assert_eq!(h.best_validation().unwrap().epoch, 2);
        assert_eq!(h.best().unwrap().epoch, 3, "the test-best epoch is another");
        let svg = h.svg();
        assert!(
            svg.contains("saved: best validation 80.00 % (epoch 2), test 70.00 %"),
            "{svg}"
        );
        assert_eq!(
            svg.matches("<polyline").count(),
            3,
            "train, test, validation"
        );
    }

    #[test]
    fn chart_draws_each_recorded_series_and_rings_the_best_epoch() {
        let mut h = History::new("BS4NN <digits>".into(), None, None).unwrap();
        // An empty history still draws a closed document.
        assert!(h.svg().ends_with("</svg>\n"));
        for (e, a) in [(1, 0.6), (2, 0.8), (3, 0.7)] {
            h.record(row(e, a, Some(a + 0.02))).unwrap();
        }
        let svg = h.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("BS4NN &lt;digits&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("best test: 80.00 % (epoch 2)"));
        assert!(svg.contains("epoch 3, test: 70.00 %"));
        let mut h = History::new("stidi".into(), None, None).unwrap();
        h.record(row(1, 0.6, None)).unwrap();
        assert_eq!(h.svg().matches("<polyline").count(), 2);
    }

    #[test]
    fn a_missing_directory_is_refused_before_training() {
        let e = History::new(
            "t".into(),
            Some(PathBuf::from("/nonexistent-spikemesh-dir/h.csv")),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("--history /nonexistent-spikemesh-dir/h.csv")
                && e.to_string().contains("does not exist"),
            "{e}"
        );
    }
}
