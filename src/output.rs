//! Terminal output: plain-text tables, progress bars and per-epoch progress lines.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use ser_train::fit::EpochReport;

/// Renders rows as a left-aligned table with a header line; columns are padded
/// to their widest cell so output lines up in a terminal.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    push_row(&mut out, &header, &widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_row(&mut out, &rule, &widths);
    for row in rows {
        push_row(&mut out, row, &widths);
    }
    out
}

fn push_row(out: &mut String, cells: &[String], widths: &[usize]) {
    let line: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect();
    out.push_str(line.join("  ").trim_end());
    out.push('\n');
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:48} [{bar:30}] {pos}/{len} {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}

/// One epoch as a short line: epoch, loss, validation UA, time.
pub fn epoch_line(prefix: &str, epoch: &EpochReport) -> String {
    let member = if epoch.members > 1 {
        format!("member {}/{} ", epoch.member + 1, epoch.members)
    } else {
        String::new()
    };
    format!(
        "{prefix}{member}epoch {}/{} loss {:.3} train acc {:.1}% val UA {}{} ({:.1} s)",
        epoch.epoch,
        epoch.epochs,
        epoch.train_loss,
        100.0 * epoch.train_acc,
        epoch
            .val_ua
            .map_or("-".into(), |ua| format!("{:.1}%", 100.0 * ua)),
        if epoch.best { " *" } else { "" },
        epoch.seconds
    )
}

/// Shows epoch progress on `bar` in a terminal; writes one line per epoch to stderr
/// otherwise (logs of long runs keep their history).
pub fn report_epoch(bar: &ProgressBar, prefix: &str, epoch: &EpochReport) {
    let line = epoch_line(prefix, epoch);
    if std::io::stderr().is_terminal() {
        bar.set_length(epoch.epochs as u64);
        bar.set_position(epoch.epoch as u64);
        bar.set_message(line);
    } else {
        eprintln!("{line}");
    }
}

/// A line that stays: above `bar` in a terminal, on stderr otherwise.
pub fn report_line(bar: &ProgressBar, line: String) {
    if std::io::stderr().is_terminal() {
        bar.println(line);
    } else {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn columns_are_aligned_to_the_widest_cell() {
        let text = table(
            &["file", "emotion"],
            &[
                vec!["a.wav".into(), "happy".into()],
                vec!["long_name.flac".into(), "sad".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "file            emotion");
        assert_eq!(lines[1], "--------------  -------");
        assert_eq!(lines[2], "a.wav           happy");
        assert_eq!(lines[3], "long_name.flac  sad");
    }
}
