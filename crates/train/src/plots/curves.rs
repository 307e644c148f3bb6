//! Learning curves: loss and accuracy against epoch, training and validation.

use plotters::prelude::*;

use super::{
    AXIS, Area, BLUE, DrawResult, GREEN, GRID, INK, MUTED, ORANGE, PlotError, font, percent, render,
};
use crate::history::{EpochRecord, TrainingHistory};

const PANEL_W: u32 = 540;
const PANEL_H: u32 = 340;

/// One line on a panel: its legend name, colour and where its values come from.
struct Series {
    name: &'static str,
    colour: RGBColor,
    value: fn(&EpochRecord) -> Option<f64>,
}

const LOSS_SERIES: [Series; 2] = [
    Series {
        name: "train",
        colour: BLUE,
        value: |e| Some(e.train_loss),
    },
    Series {
        name: "validation",
        colour: ORANGE,
        value: |e| e.val_loss,
    },
];

const ACCURACY_SERIES: [Series; 3] = [
    Series {
        name: "train",
        colour: BLUE,
        value: |e| Some(e.train_accuracy),
    },
    Series {
        name: "validation",
        colour: ORANGE,
        value: |e| e.val_accuracy,
    },
    Series {
        name: "validation UA",
        colour: GREEN,
        value: |e| e.val_ua,
    },
];

/// Two panels side by side: loss (left) and accuracy (right) per epoch. With several histories
/// (one per fold) each fold is a thin line and the bold line is the mean over the folds still
/// training at that epoch; with one history its best epoch, if known, is marked.
pub fn curves_svg(histories: &[TrainingHistory]) -> Result<String, PlotError> {
    let last_epoch = histories
        .iter()
        .map(TrainingHistory::last_epoch)
        .max()
        .unwrap_or(0);
    if last_epoch == 0 {
        return Err(PlotError::NoData {
            chart: "training curves",
            reason: "no epochs recorded",
        });
    }
    render("training curves", (PANEL_W * 2, PANEL_H), |root| {
        let (left, right) = root.split_horizontally(PANEL_W);
        let loss_max = max_value(histories, &LOSS_SERIES).max(1e-6) * 1.1;
        let loss = Panel {
            title: "Loss",
            y_max: loss_max,
            y_format: |v| format!("{v:.2}"),
            series: &LOSS_SERIES,
            legend: SeriesLabelPosition::UpperRight,
        };
        draw_panel(&left, &loss, histories, last_epoch)?;
        let accuracy = Panel {
            title: "Accuracy",
            y_max: 1.0,
            y_format: |v| percent(*v),
            series: &ACCURACY_SERIES,
            legend: SeriesLabelPosition::LowerRight,
        };
        draw_panel(&right, &accuracy, histories, last_epoch)
    })
}

struct Panel<'s> {
    title: &'static str,
    y_max: f64,
    y_format: fn(&f64) -> String,
    series: &'s [Series],
    legend: SeriesLabelPosition,
}

fn draw_panel(
    area: &Area,
    panel: &Panel,
    histories: &[TrainingHistory],
    last: usize,
) -> DrawResult {
    let caption = font(15.0).style(FontStyle::Bold).color(&INK);
    let x_end = last.max(2) as u32;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .caption(caption_text(panel.title, histories.len()), caption)
        .x_label_area_size(40)
        .y_label_area_size(54)
        .build_cartesian_2d(1u32..x_end, 0f64..panel.y_max)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID.stroke_width(1))
        .axis_style(AXIS.stroke_width(1))
        .label_style(font(11.0).color(&MUTED))
        .axis_desc_style(font(12.0).color(&MUTED))
        .x_desc("epoch")
        .x_labels(10)
        .y_labels(6)
        .y_label_formatter(&panel.y_format)
        .draw()?;
    for series in panel.series {
        draw_series(&mut chart, series, histories)?;
    }
    if let [single] = histories {
        draw_best_epoch(&mut chart, single, panel.y_max)?;
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .background_style(WHITE.mix(0.9))
        .border_style(GRID)
        .label_font(font(12.0).color(&INK))
        .draw()
}

fn caption_text(title: &str, folds: usize) -> String {
    if folds > 1 {
        format!("{title} (mean of {folds} folds; thin lines: each fold)")
    } else {
        title.to_string()
    }
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordu32, plotters::coord::types::RangedCoordf64>,
>;

fn draw_series(chart: &mut Chart, series: &Series, histories: &[TrainingHistory]) -> DrawResult {
    let folds: Vec<Vec<(u32, f64)>> = histories.iter().map(|h| points(h, series.value)).collect();
    if folds.iter().all(Vec::is_empty) {
        return Ok(());
    }
    if folds.len() > 1 {
        for fold in &folds {
            let thin = series.colour.mix(0.3).stroke_width(1);
            chart.draw_series(LineSeries::new(fold.iter().copied(), thin))?;
        }
    }
    let colour = series.colour;
    let mean = mean_curve(&folds);
    // A handful of epochs barely makes a line: mark the points too.
    let markers = if mean.len() < 8 { 4 } else { 0 };
    let line = LineSeries::new(mean, colour.stroke_width(3)).point_size(markers);
    chart
        .draw_series(line)?
        .label(series.name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3)));
    Ok(())
}

/// Dashed vertical line at the epoch whose weights were kept.
fn draw_best_epoch(chart: &mut Chart, history: &TrainingHistory, y_max: f64) -> DrawResult {
    let Some(best) = history.best_epoch else {
        return Ok(());
    };
    let line = vec![(best as u32, 0.0), (best as u32, y_max)];
    let style = MUTED.stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new(line, 5, 4, style))?
        .label("best epoch")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    Ok(())
}

/// Finite values of one series, by epoch.
fn points(history: &TrainingHistory, value: fn(&EpochRecord) -> Option<f64>) -> Vec<(u32, f64)> {
    history
        .epochs
        .iter()
        .filter_map(|e| {
            value(e)
                .filter(|v| v.is_finite())
                .map(|v| (e.epoch as u32, v))
        })
        .collect()
}

/// Mean over folds at each epoch, over the folds that have a value there.
fn mean_curve(folds: &[Vec<(u32, f64)>]) -> Vec<(u32, f64)> {
    let mut sums: std::collections::BTreeMap<u32, (f64, usize)> = Default::default();
    for &(epoch, value) in folds.iter().flatten() {
        let entry = sums.entry(epoch).or_default();
        entry.0 += value;
        entry.1 += 1;
    }
    sums.into_iter()
        .map(|(epoch, (sum, n))| (epoch, sum / n as f64))
        .collect()
}

fn max_value(histories: &[TrainingHistory], series: &[Series]) -> f64 {
    series
        .iter()
        .flat_map(|s| histories.iter().flat_map(move |h| points(h, s.value)))
        .map(|(_, v)| v)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_curve_uses_folds_still_training() {
        let folds = vec![vec![(1, 1.0), (2, 0.5)], vec![(1, 3.0)]];
        assert_eq!(mean_curve(&folds), vec![(1, 2.0), (2, 0.5)]);
    }
}
