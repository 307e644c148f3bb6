//! Plain-text tables for terminal output.

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
