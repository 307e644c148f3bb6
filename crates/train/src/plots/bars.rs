//! Bar charts: per-class scores, per-speaker accuracy, model comparison, reliability.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    AXIS, Area, BLUE, DrawResult, GREEN, GRID, INK, MUTED, ORANGE, PlotError, bold_style,
    draw_line, draw_text, fill_rect, max_text_width, percent, render, text_style, text_width,
};
use crate::metrics::{ClassMetrics, MeanStd, ReliabilityBin, SpeakerAccuracy};

const TICK_PX: f64 = 11.0;
const LABEL_PX: f64 = 12.0;
const PLOT_H: i32 = 220;
/// Width of the y-axis tick labels ("100%") plus padding.
const Y_AXIS_W: i32 = 46;

/// The plotting rectangle in pixels; values 0..=1 map bottom to top (or left to right).
#[derive(Clone, Copy)]
struct Frame {
    left: i32,
    top: i32,
    width: i32,
    height: i32,
}

impl Frame {
    fn bottom(&self) -> i32 {
        self.top + self.height
    }

    fn right(&self) -> i32 {
        self.left + self.width
    }

    fn y_of(&self, value: f64) -> i32 {
        self.top + ((1.0 - clamp_unit(value)) * self.height as f64).round() as i32
    }

    fn x_of(&self, value: f64) -> i32 {
        self.left + (clamp_unit(value) * self.width as f64).round() as i32
    }
}

fn clamp_unit(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// Category labels under a vertical bar chart: level when they fit their slot, else turned.
struct CategoryAxis {
    slot: i32,
    rotate: bool,
    height: i32,
}

impl CategoryAxis {
    fn new<'s>(labels: impl IntoIterator<Item = &'s str>, slot: i32) -> Self {
        let widest = max_text_width(LABEL_PX, labels);
        let rotate = widest > slot - 4;
        let height = if rotate {
            widest
        } else {
            (LABEL_PX * 1.4) as i32
        };
        Self {
            slot,
            rotate,
            height,
        }
    }

    fn draw(&self, area: &Area, frame: Frame, labels: &[&str]) -> DrawResult {
        let y = frame.bottom() + 8;
        for (i, label) in labels.iter().enumerate() {
            let x = frame.left + i as i32 * self.slot + self.slot / 2;
            let style = if self.rotate {
                text_style(LABEL_PX, &INK, HPos::Right, VPos::Center)
                    .transform(FontTransform::Rotate270)
            } else {
                text_style(LABEL_PX, &INK, HPos::Center, VPos::Top)
            };
            draw_text(area, label, (x, y), &style)?;
        }
        Ok(())
    }
}

/// Horizontal grid lines with percent labels every 20%, and the baseline.
fn draw_percent_axis(area: &Area, frame: Frame) -> DrawResult {
    let style = text_style(TICK_PX, &MUTED, HPos::Right, VPos::Center);
    for step in 0..=5 {
        let value = step as f64 / 5.0;
        let y = frame.y_of(value);
        let line = if step == 0 { AXIS } else { GRID };
        draw_line(
            area,
            (frame.left, y),
            (frame.right(), y),
            line.stroke_width(1),
        )?;
        draw_text(area, &percent(value), (frame.left - 8, y), &style)?;
    }
    Ok(())
}

/// Coloured squares with names, laid out right to left from `right`.
fn draw_legend(area: &Area, right: i32, y: i32, items: &[(&str, RGBColor)]) -> DrawResult {
    let style = text_style(LABEL_PX, &INK, HPos::Left, VPos::Center);
    let mut x = right;
    for (name, colour) in items.iter().rev() {
        x -= text_width(LABEL_PX, name);
        draw_text(area, name, (x, y), &style)?;
        x -= 18;
        fill_rect(area, (x, y - 6), (x + 12, y + 6), colour)?;
        x -= 18;
    }
    Ok(())
}

/// Grouped bars of precision, recall and F1 per class.
pub fn per_class_svg(per_class: &[ClassMetrics]) -> Result<String, PlotError> {
    if per_class.is_empty() {
        return Err(PlotError::NoData {
            chart: "per-class scores",
            reason: "no classes",
        });
    }
    let labels: Vec<&str> = per_class.iter().map(|c| c.label.as_str()).collect();
    let slot = (600 / labels.len() as i32).max(40);
    let axis = CategoryAxis::new(labels.iter().copied(), slot);
    let frame = Frame {
        left: Y_AXIS_W,
        top: 36,
        width: slot * labels.len() as i32,
        height: PLOT_H,
    };
    let size = (frame.right() + 16, frame.bottom() + 8 + axis.height + 10);
    let series = [("Precision", BLUE), ("Recall", ORANGE), ("F1", GREEN)];
    render("per-class scores", (size.0 as u32, size.1 as u32), |area| {
        draw_percent_axis(area, frame)?;
        for (i, class) in per_class.iter().enumerate() {
            let values = [class.precision, class.recall, class.f1];
            draw_group(area, frame, i as i32 * slot, slot, &values, &series)?;
        }
        axis.draw(area, frame, &labels)?;
        draw_legend(area, frame.right(), 14, &series)
    })
}

/// One cluster of bars inside category slot starting at `offset` pixels from the frame's left.
fn draw_group(
    area: &Area,
    frame: Frame,
    offset: i32,
    slot: i32,
    values: &[f64],
    series: &[(&str, RGBColor)],
) -> DrawResult {
    let inner = slot * 3 / 4;
    let bar = inner / values.len() as i32;
    let start = frame.left + offset + (slot - bar * values.len() as i32) / 2;
    for (j, (&value, (_, colour))) in values.iter().zip(series).enumerate() {
        let x = start + j as i32 * bar;
        fill_rect(
            area,
            (x + 1, frame.y_of(value)),
            (x + bar - 1, frame.bottom()),
            colour,
        )?;
    }
    Ok(())
}

/// Accuracy per speaker as bars, with a dashed line at the mean over speakers.
pub fn speaker_accuracy_svg(per_speaker: &[SpeakerAccuracy]) -> Result<String, PlotError> {
    if per_speaker.is_empty() {
        return Err(PlotError::NoData {
            chart: "per-speaker accuracy",
            reason: "no speakers",
        });
    }
    let labels: Vec<&str> = per_speaker.iter().map(|s| s.speaker.as_str()).collect();
    let slot = (960 / labels.len() as i32).clamp(22, 80);
    let axis = CategoryAxis::new(labels.iter().copied(), slot);
    let frame = Frame {
        left: Y_AXIS_W,
        top: 24,
        width: slot * labels.len() as i32,
        height: PLOT_H,
    };
    let title_y = frame.bottom() + 8 + axis.height + 10;
    let size = ((frame.right() + 90) as u32, (title_y + 24) as u32);
    render("per-speaker accuracy", size, |area| {
        draw_percent_axis(area, frame)?;
        // The mean line goes under the bars so it never crosses their value labels.
        let mean = per_speaker.iter().map(|s| s.accuracy).sum::<f64>() / labels.len() as f64;
        draw_mean_line(area, frame, mean)?;
        draw_speaker_bars(area, frame, slot, per_speaker)?;
        axis.draw(area, frame, &labels)?;
        let title = bold_style(LABEL_PX, &MUTED, HPos::Center, VPos::Top);
        let centre = frame.left + frame.width / 2;
        draw_text(area, "Speaker", (centre, title_y), &title)
    })
}

fn draw_speaker_bars(area: &Area, frame: Frame, slot: i32, rows: &[SpeakerAccuracy]) -> DrawResult {
    let bar = (slot * 2 / 3).max(8);
    // Values sit inside the top of the bar (clear of the mean line), or above a short bar.
    let inside = text_style(10.0, &WHITE, HPos::Center, VPos::Top);
    let above = text_style(10.0, &MUTED, HPos::Center, VPos::Bottom);
    for (i, row) in rows.iter().enumerate() {
        let x = frame.left + i as i32 * slot + (slot - bar) / 2;
        let top = frame.y_of(row.accuracy);
        fill_rect(area, (x, top), (x + bar, frame.bottom()), &BLUE)?;
        if slot >= 24 {
            let value = format!("{:.0}", row.accuracy * 100.0);
            if frame.bottom() - top >= 18 {
                draw_text(area, &value, (x + bar / 2, top + 4), &inside)?;
            } else {
                draw_text(area, &value, (x + bar / 2, top - 3), &above)?;
            }
        }
    }
    Ok(())
}

fn draw_mean_line(area: &Area, frame: Frame, mean: f64) -> DrawResult {
    let y = frame.y_of(mean);
    let points = vec![(frame.left, y), (frame.right() + 6, y)];
    area.draw(&plotters::element::DashedPathElement::new(
        points,
        6,
        4,
        ORANGE.stroke_width(2),
    ))?;
    let style = bold_style(LABEL_PX, &ORANGE, HPos::Left, VPos::Center);
    draw_text(
        area,
        &format!("mean {}", percent(mean)),
        (frame.right() + 10, y),
        &style,
    )
}

/// Horizontal bars of each model's mean UA with ±1 std error bars, in the order given.
pub fn comparison_svg(models: &[(&str, MeanStd)]) -> Result<String, PlotError> {
    if models.is_empty() {
        return Err(PlotError::NoData {
            chart: "model comparison",
            reason: "no models",
        });
    }
    const ROW_H: i32 = 34;
    let names = models.iter().map(|(name, _)| *name);
    let frame = Frame {
        left: 16 + max_text_width(13.0, names) + 12,
        top: 10,
        width: 520,
        height: ROW_H * models.len() as i32,
    };
    let size = ((frame.right() + 120) as u32, (frame.bottom() + 52) as u32);
    render("model comparison", size, |area| {
        draw_vertical_percent_axis(area, frame)?;
        for (i, (name, ua)) in models.iter().enumerate() {
            let centre = frame.top + i as i32 * ROW_H + ROW_H / 2;
            draw_model_row(area, frame, centre, name, ua)?;
        }
        let title = bold_style(LABEL_PX, &MUTED, HPos::Center, VPos::Top);
        let text = "UA, mean ± std over folds";
        draw_text(
            area,
            text,
            (frame.left + frame.width / 2, frame.bottom() + 28),
            &title,
        )
    })
}

fn draw_vertical_percent_axis(area: &Area, frame: Frame) -> DrawResult {
    let style = text_style(TICK_PX, &MUTED, HPos::Center, VPos::Top);
    for step in 0..=5 {
        let value = step as f64 / 5.0;
        let x = frame.x_of(value);
        let line = if step == 0 { AXIS } else { GRID };
        draw_line(
            area,
            (x, frame.top),
            (x, frame.bottom()),
            line.stroke_width(1),
        )?;
        draw_text(area, &percent(value), (x, frame.bottom() + 6), &style)?;
    }
    Ok(())
}

fn draw_model_row(area: &Area, frame: Frame, centre: i32, name: &str, ua: &MeanStd) -> DrawResult {
    let name_style = text_style(13.0, &INK, HPos::Right, VPos::Center);
    draw_text(area, name, (frame.left - 12, centre), &name_style)?;
    fill_rect(
        area,
        (frame.left, centre - 10),
        (frame.x_of(ua.mean), centre + 10),
        &BLUE,
    )?;
    let (low, high) = (frame.x_of(ua.mean - ua.std), frame.x_of(ua.mean + ua.std));
    let whisker = INK.stroke_width(2);
    draw_line(area, (low, centre), (high, centre), whisker)?;
    draw_line(area, (low, centre - 6), (low, centre + 6), whisker)?;
    draw_line(area, (high, centre - 6), (high, centre + 6), whisker)?;
    let value_style = text_style(LABEL_PX, &INK, HPos::Left, VPos::Center);
    let text = format!("{}%", ua.percent());
    draw_text(
        area,
        &text,
        (high.max(frame.x_of(ua.mean)) + 8, centre),
        &value_style,
    )
}

/// A reliability diagram: per confidence bin, the share of right answers (bars) against the
/// diagonal a perfectly calibrated model would follow; the gap is what the ECE averages.
pub fn reliability_svg(bins: &[ReliabilityBin]) -> Result<String, PlotError> {
    if bins.is_empty() {
        return Err(PlotError::NoData {
            chart: "reliability",
            reason: "no probabilities",
        });
    }
    let frame = Frame {
        left: Y_AXIS_W,
        top: 16,
        width: PLOT_H,
        height: PLOT_H,
    };
    let title_y = frame.bottom() + 26;
    let size = ((frame.right() + 24) as u32, (title_y + 24) as u32);
    render("reliability", size, |area| {
        draw_percent_axis(area, frame)?;
        let ticks = text_style(TICK_PX, &MUTED, HPos::Center, VPos::Top);
        for step in 0..=5 {
            let value = step as f64 / 5.0;
            draw_text(
                area,
                &percent(value),
                (frame.x_of(value), frame.bottom() + 6),
                &ticks,
            )?;
        }
        for bin in bins {
            let (x0, x1) = (frame.x_of(bin.lower) + 1, frame.x_of(bin.upper) - 1);
            fill_rect(
                area,
                (x0, frame.y_of(bin.accuracy)),
                (x1, frame.bottom()),
                &BLUE,
            )?;
        }
        area.draw(&plotters::element::DashedPathElement::new(
            vec![(frame.left, frame.bottom()), (frame.right(), frame.top)],
            6,
            4,
            ORANGE.stroke_width(2),
        ))?;
        let title = bold_style(LABEL_PX, &MUTED, HPos::Center, VPos::Top);
        let centre = frame.left + frame.width / 2;
        draw_text(
            area,
            "Confidence (bars: accuracy)",
            (centre, title_y),
            &title,
        )
    })
}
