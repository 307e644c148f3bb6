//! Human-friendly number formatting shared by the HTML and Markdown renderers.

/// Seconds as "850 ms", "42.0 s", "12m 04s" or "1h 02m" (compact, for cards and tables).
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".to_string();
    }
    if seconds < 1.0 {
        return format!("{:.0} ms", seconds * 1000.0);
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h {:02}m", whole / 3600, whole % 3600 / 60)
    }
}

/// Milliseconds per clip with sensible precision.
pub(crate) fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "–".to_string()
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Parameter counts as "512", "45.6 k", "1.23 M".
pub(crate) fn count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} k", n as f64 / 1e3),
        _ => format!("{:.2} M", n as f64 / 1e6),
    }
}

/// A fraction as "73.4%".
pub(crate) fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

/// Formats an optional value, "–" when absent.
pub(crate) fn or_dash<T>(value: Option<T>, format: impl Fn(T) -> String) -> String {
    value.map(format).unwrap_or_else(|| "–".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(42.04), "42.0 s");
        assert_eq!(duration(724.0), "12m 04s");
        assert_eq!(duration(3720.0), "1h 02m");
        assert_eq!(duration(f64::NAN), "–");
        assert_eq!(millis(1.234), "1.23 ms");
        assert_eq!(millis(12.34), "12.3 ms");
        assert_eq!(count(512), "512");
        assert_eq!(count(45_600), "45.6 k");
        assert_eq!(count(1_234_567), "1.23 M");
        assert_eq!(percent(0.7346), "73.5%");
        assert_eq!(or_dash(None::<u64>, count), "–");
    }
}
