//! `spikemesh train --history FILE --plot FILE`: the learning curve as CSV and SVG. The CSV
//! holds exactly the figures the run prints, one row per epoch, for every rule (the
//! tie-inclusive score only where the rule reports it); the chart draws each series and names
//! the best epoch the run names; a file in a missing directory is refused before training.
//! The silent-output counts of an epoch line are those `spikemesh eval` gives the saved model.

mod cli_support;

use cli_support::{spikemesh, stderr, train_digits};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    cli_support::scratch_dir("history").join(name)
}

/// The number after `key` in `line`, up to the next space (e.g. `test acc 80.28 %`).
fn after<'a>(line: &'a str, key: &str) -> &'a str {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    rest.split_whitespace().next().unwrap()
}

/// `(epoch, train %, test %, ties %)` of each `epoch k/n:` line of a run's output.
fn printed_epochs(stdout: &str) -> Vec<(String, String, String, Option<String>)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| {
            let epoch = l["epoch ".len()..].split('/').next().unwrap().to_string();
            let ties = l
                .contains("ties as correct")
                .then(|| after(l, "ties as correct ").to_string());
            (
                epoch,
                after(l, "train acc ").to_string(),
                after(l, "test acc ").to_string(),
                ties,
            )
        })
        .collect()
}

/// The CSV's rows, split into fields, after checking its header.
fn csv_rows(path: &PathBuf) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "epoch,train_accuracy_pct,mean_loss,test_accuracy_pct,test_accuracy_ties_pct,seconds,\
             validation_accuracy_pct,test_accuracy_lowest_index_pct"
        )
    );
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// A CSV percentage as the run prints it (two decimals).
fn two_decimals(field: &str) -> String {
    format!("{:.2}", field.parse::<f64>().unwrap())
}

/// Under `--tie-order` or `--ties-by-potential` the last column holds the lowest-index figure
/// each epoch line prints beside the decoded one (the test accuracy column).
#[test]
fn history_holds_the_lowest_index_figure_under_a_tie_rule() {
    for rule in [&["--tie-order"][..], &["--ties-by-potential"][..]] {
        let (csv, model) = (scratch("tie-rule.csv"), scratch("tie-rule.json"));
        let mut extra = rule.to_vec();
        extra.extend(["--history", csv.to_str().unwrap()]);
        let out = train_digits(
            "s4nn",
            "64-40-10",
            "3",
            "3",
            model.to_str().unwrap(),
            &extra,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
        let rows = csv_rows(&csv);
        assert_eq!(rows.len(), 3);
        for (l, r) in lines.iter().zip(&rows) {
            assert_eq!(
                after(l, "(lowest index "),
                two_decimals(&r[7]),
                "{rule:?}: {l}"
            );
            assert_eq!(after(l, "test acc "), two_decimals(&r[3]), "{rule:?}: {l}");
        }
    }
}

#[test]
fn history_and_plot_hold_what_the_run_printed_for_every_rule() {
    for (rule, arch, epochs, scored_ties) in [
        ("bs4nn", "64-100-10", 4, true),
        ("s4nn", "64-40-10", 2, true),
        ("stidi", "c8k3-p2-fc10", 3, false),
    ] {
        let (csv, svg) = (
            scratch(&format!("{rule}.csv")),
            scratch(&format!("{rule}.svg")),
        );
        let model = scratch(&format!("{rule}.json"));
        let out = train_digits(
            rule,
            arch,
            &epochs.to_string(),
            "3",
            model.to_str().unwrap(),
            &[
                "--history",
                csv.to_str().unwrap(),
                "--plot",
                svg.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{rule}: {}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let printed = printed_epochs(&stdout);
        let rows = csv_rows(&csv);
        assert_eq!(printed.len(), epochs, "{rule}: {stdout}");
        assert_eq!(rows.len(), epochs, "{rule}: one CSV row per epoch");
        for (p, r) in printed.iter().zip(&rows) {
            assert_eq!(r.len(), 8, "{rule}: {r:?}");
            assert_eq!(r[6], "", "{rule}: no validation set");
            assert_eq!(r[7], "", "{rule}: no tie order");
            assert_eq!(p.0, r[0], "{rule}: epoch column");
            assert_eq!(p.1, two_decimals(&r[1]), "{rule}: train accuracy");
            assert_eq!(p.2, two_decimals(&r[3]), "{rule}: test accuracy");
            match &p.3 {
                Some(t) => assert_eq!(*t, two_decimals(&r[4]), "{rule}: ties"),
                None => assert_eq!(r[4], "", "{rule}: no tie-inclusive score"),
            }
            assert!(r[2].parse::<f64>().unwrap() >= 0.0 && r[5].parse::<f64>().unwrap() >= 0.0);
        }
        assert_eq!(printed[0].3.is_some(), scored_ties, "{rule}");
        // The best epoch the run names is the CSV's highest test accuracy (earliest of equals).
        let (best_epoch, best_acc) = rows.iter().fold((0usize, -1.0f64), |b, r| {
            let a: f64 = r[3].parse().unwrap();
            if a > b.1 {
                (r[0].parse().unwrap(), a)
            } else {
                b
            }
        });
        let named = format!("best epoch {best_epoch}: test acc {best_acc:.2} %");
        assert!(stdout.contains(&named), "{rule}: {named} in {stdout}");
        let chart = std::fs::read_to_string(&svg).unwrap();
        assert!(
            chart.starts_with("<svg") && chart.ends_with("</svg>\n"),
            "{rule}"
        );
        assert_eq!(
            chart.matches("<polyline").count(),
            if scored_ties { 3 } else { 2 },
            "{rule}: train, test (and ties) series"
        );
        assert!(
            chart.contains(&format!("best test: {best_acc:.2} % (epoch {best_epoch})")),
            "{rule}"
        );
        assert_eq!(
            chart.matches(", test: ").count(),
            epochs,
            "{rule}: one test marker per epoch"
        );
    }
}

#[test]
fn a_curve_file_in_a_missing_directory_is_refused_before_training() {
    let model = scratch("refused.json");
    let _ = std::fs::remove_file(&model);
    for flag in ["--history", "--plot"] {
        let out = train_digits(
            "bs4nn",
            "64-100-10",
            "1",
            "1",
            model.to_str().unwrap(),
            &[flag, "/nonexistent-spikemesh-dir/curve"],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(
            err.contains(&format!("{flag} /nonexistent-spikemesh-dir/curve"))
                && err.contains("does not exist"),
            "{flag}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!model.exists(), "{flag}: refused before the first epoch");
    }
}

/// The last epoch line's "N silent, M right" (test images without an output spike, decided by
/// the no-spike fallback) are the counts `spikemesh eval` reports for the saved model.
#[test]
fn an_epoch_line_counts_the_silent_outputs_eval_reports() {
    let model = scratch("silent.json");
    let m = model.to_str().unwrap();
    let out = train_digits("bs4nn", "64-100-10", "2", "3", m, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rfind(|l| l.starts_with("epoch 2/2"))
        .unwrap();
    let (silent, right) = (after(last, "%; "), after(last, "silent, "));
    let eval = spikemesh(&["eval", m, "--dataset", "digits"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let report = String::from_utf8_lossy(&eval.stdout);
    let named = format!("no-spike fallback used {silent} times ({right} of them correct)");
    assert!(
        report.contains(&named),
        "{named} in {report} (train: {last})"
    );
    assert_ne!(
        silent, "0",
        "the digits run leaves some outputs silent: {last}"
    );
}
