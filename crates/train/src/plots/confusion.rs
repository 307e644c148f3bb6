//! Confusion-matrix heat map.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    AXIS, Area, DrawResult, INK, MUTED, PlotError, bold_style, draw_text, fill_rect,
    max_text_width, percent, render, text_style, text_width,
};
use crate::metrics::ConfusionMatrix;

/// ColorBrewer "Blues", light to dark: readable in print and for common colour-vision deficiencies.
const BLUES: [(u8, u8, u8); 9] = [
    (247, 251, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
];

/// Above this row share the cell is dark enough to need white text.
const DARK_CELL: f64 = 0.45;
const EMPTY_INK: RGBColor = RGBColor(190, 196, 205);
const AXIS_TITLE_PX: f64 = 13.0;
const TICK_PX: f64 = 11.0;
const COLOUR_BAR_W: i32 = 14;
const COLOUR_BAR_GAP: i32 = 18;

/// Heat map of a confusion matrix: colour is the row-normalised share (recall per true class),
/// each cell shows its count (and the share when there is room); true classes down the left,
/// predicted classes along the bottom, a colour bar on the right.
pub fn confusion_svg(confusion: &ConfusionMatrix) -> Result<String, PlotError> {
    if confusion.n_classes() == 0 {
        return Err(PlotError::NoData {
            chart: "confusion matrix",
            reason: "no classes",
        });
    }
    let layout = Layout::new(confusion);
    render("confusion matrix", layout.size(), |area| {
        draw_cells(area, &layout, confusion)?;
        draw_labels(area, &layout, confusion.labels())?;
        draw_colour_bar(area, &layout)
    })
}

/// Pixel geometry, derived from the number of classes and the longest label.
struct Layout {
    n: i32,
    cell: i32,
    label_px: f64,
    /// Top-left corner of the grid.
    left: i32,
    top: i32,
    /// Whether column labels are turned to read bottom-to-top because they are wider than a cell.
    rotate_columns: bool,
    column_label_h: i32,
    right: i32,
}

impl Layout {
    fn new(confusion: &ConfusionMatrix) -> Self {
        let n = confusion.n_classes() as i32;
        let cell = (576 / n).clamp(26, 72);
        let label_px = if cell >= 44 { 13.0 } else { 11.0 };
        let labels = confusion.labels().iter().map(String::as_str);
        let label_w = max_text_width(label_px, labels);
        let rotate_columns = label_w > cell - 4;
        let column_label_h = if rotate_columns {
            label_w
        } else {
            (label_px * 1.4) as i32
        };
        Self {
            n,
            cell,
            label_px,
            left: 22 + label_w + 10,
            top: 12,
            rotate_columns,
            column_label_h,
            right: COLOUR_BAR_GAP + COLOUR_BAR_W + 6 + text_width(TICK_PX, "100%") + 6,
        }
    }

    fn grid(&self) -> i32 {
        self.n * self.cell
    }

    fn size(&self) -> (u32, u32) {
        let width = self.left + self.grid() + self.right;
        let height = self.top + self.grid() + 10 + self.column_label_h + 14 + 22;
        (width as u32, height as u32)
    }

    fn cell_origin(&self, row: usize, col: usize) -> (i32, i32) {
        (
            self.left + col as i32 * self.cell,
            self.top + row as i32 * self.cell,
        )
    }
}

fn draw_cells(area: &Area, layout: &Layout, confusion: &ConfusionMatrix) -> DrawResult {
    let shares = confusion.row_normalised();
    for (row, (counts, row_shares)) in confusion.counts().iter().zip(&shares).enumerate() {
        for (col, (&count, &share)) in counts.iter().zip(row_shares).enumerate() {
            draw_cell(area, layout, (row, col), count, share)?;
        }
    }
    Ok(())
}

fn draw_cell(
    area: &Area,
    layout: &Layout,
    (row, col): (usize, usize),
    count: usize,
    share: f64,
) -> DrawResult {
    let (x, y) = layout.cell_origin(row, col);
    let c = layout.cell;
    fill_rect(area, (x, y), (x + c, y + c), &heat_colour(share))?;
    area.draw(&Rectangle::new(
        [(x, y), (x + c, y + c)],
        WHITE.stroke_width(1),
    ))?;
    // Zero cells recede so the eye goes to the confusions that happen.
    let ink = match (count, share > DARK_CELL) {
        (0, _) => EMPTY_INK,
        (_, true) => WHITE,
        (_, false) => INK,
    };
    let centre = (x + c / 2, y + c / 2);
    let count_style = bold_style(layout.label_px + 1.0, &ink, HPos::Center, VPos::Center);
    if c >= 50 && count > 0 {
        draw_text(
            area,
            &count.to_string(),
            (centre.0, centre.1 - 7),
            &count_style,
        )?;
        let share_style = text_style(10.0, &ink, HPos::Center, VPos::Center);
        draw_text(
            area,
            &percent(share),
            (centre.0, centre.1 + 10),
            &share_style,
        )
    } else {
        draw_text(area, &count.to_string(), centre, &count_style)
    }
}

fn draw_labels(area: &Area, layout: &Layout, labels: &[String]) -> DrawResult {
    let grid_bottom = layout.top + layout.grid();
    let row_style = text_style(layout.label_px, &INK, HPos::Right, VPos::Center);
    for (i, label) in labels.iter().enumerate() {
        let (x, y) = layout.cell_origin(i, i);
        draw_text(
            area,
            label,
            (layout.left - 8, y + layout.cell / 2),
            &row_style,
        )?;
        let column_x = x + layout.cell / 2;
        if layout.rotate_columns {
            let style = text_style(layout.label_px, &INK, HPos::Right, VPos::Center)
                .transform(FontTransform::Rotate270);
            draw_text(area, label, (column_x, grid_bottom + 8), &style)?;
        } else {
            let style = text_style(layout.label_px, &INK, HPos::Center, VPos::Top);
            draw_text(area, label, (column_x, grid_bottom + 8), &style)?;
        }
    }
    draw_axis_titles(area, layout)
}

fn draw_axis_titles(area: &Area, layout: &Layout) -> DrawResult {
    let middle = layout.grid() / 2;
    let true_style = bold_style(AXIS_TITLE_PX, &MUTED, HPos::Center, VPos::Center)
        .transform(FontTransform::Rotate270);
    draw_text(area, "True class", (10, layout.top + middle), &true_style)?;
    let y = layout.top + layout.grid() + 10 + layout.column_label_h + 12;
    let predicted_style = bold_style(AXIS_TITLE_PX, &MUTED, HPos::Center, VPos::Top);
    draw_text(
        area,
        "Predicted class",
        (layout.left + middle, y),
        &predicted_style,
    )
}

/// Vertical colour bar from 100% (top) to 0% (bottom) with tick labels.
fn draw_colour_bar(area: &Area, layout: &Layout) -> DrawResult {
    let x = layout.left + layout.grid() + COLOUR_BAR_GAP;
    let height = layout.grid();
    let steps = 64;
    for step in 0..steps {
        let y0 = layout.top + height * step / steps;
        let y1 = layout.top + height * (step + 1) / steps;
        let share = 1.0 - (step as f64 + 0.5) / steps as f64;
        fill_rect(
            area,
            (x, y0),
            (x + COLOUR_BAR_W, y1 + 1),
            &heat_colour(share),
        )?;
    }
    area.draw(&Rectangle::new(
        [(x, layout.top), (x + COLOUR_BAR_W, layout.top + height)],
        AXIS.stroke_width(1),
    ))?;
    let tick_style = text_style(TICK_PX, &MUTED, HPos::Left, VPos::Center);
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = layout.top + ((1.0 - tick) * height as f64).round() as i32;
        draw_text(area, &percent(tick), (x + COLOUR_BAR_W + 6, y), &tick_style)?;
    }
    Ok(())
}

/// Linear interpolation through [`BLUES`]; `share` is clamped to 0..=1 (NaN counts as 0).
fn heat_colour(share: f64) -> RGBColor {
    let share = if share.is_nan() { 0.0 } else { share };
    let position = share.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = (low + 1).min(BLUES.len() - 1);
    let t = position - low as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    let (a, b) = (BLUES[low], BLUES[high]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_colour_spans_the_ramp() {
        assert_eq!(heat_colour(0.0), RGBColor(247, 251, 255));
        assert_eq!(heat_colour(1.0), RGBColor(8, 48, 107));
        assert_eq!(heat_colour(2.0), RGBColor(8, 48, 107));
        assert_eq!(heat_colour(f64::NAN), RGBColor(247, 251, 255));
    }
}
