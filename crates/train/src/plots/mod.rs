//! SVG charts drawn with plotters into a `String`.
//!
//! Every renderer returns a complete `<svg>` document with a `viewBox`, so it can be written to
//! a `.svg` file, served by the web app, or inlined into HTML (where CSS may override the
//! `sans-serif` font family). Text is escaped by the SVG backend.

mod bars;
mod confusion;
mod curves;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

pub use bars::{comparison_svg, per_class_svg, reliability_svg, speaker_accuracy_svg};
pub use confusion::confusion_svg;
pub use curves::curves_svg;

/// Why a chart could not be drawn.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlotError {
    /// The data holds nothing the chart could show.
    #[error("nothing to draw in the {chart} chart: {reason}")]
    NoData {
        /// Which chart, e.g. "confusion matrix".
        chart: &'static str,
        /// What is missing.
        reason: &'static str,
    },
    /// The SVG backend failed.
    #[error("drawing the {chart} chart failed: {message}")]
    Draw {
        /// Which chart, e.g. "confusion matrix".
        chart: &'static str,
        /// The backend's error.
        message: String,
    },
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws onto a white canvas of `size` pixels and returns the SVG text.
fn render(
    chart: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|_| draw(&root))
            .and_then(|_| root.present())
            .map_err(|e| PlotError::Draw {
                chart,
                message: e.to_string(),
            })?;
    }
    Ok(svg)
}

// A restrained palette: slate greys for chrome, Tableau-10 hues for data.
const INK: RGBColor = RGBColor(31, 41, 55);
const MUTED: RGBColor = RGBColor(107, 114, 128);
const GRID: RGBColor = RGBColor(229, 231, 235);
const AXIS: RGBColor = RGBColor(156, 163, 175);
const BLUE: RGBColor = RGBColor(78, 121, 167);
const ORANGE: RGBColor = RGBColor(242, 142, 43);
const GREEN: RGBColor = RGBColor(89, 161, 79);

/// A font of `px` CSS pixels (the SVG backend writes `size / 1.24`).
fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, px * 1.24, FontStyle::Normal)
}

fn text_style(px: f64, color: &RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    font(px).color(color).pos(Pos::new(h, v))
}

fn bold_style(px: f64, color: &RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    font(px)
        .style(FontStyle::Bold)
        .color(color)
        .pos(Pos::new(h, v))
}

/// Estimated rendered width of `text` in a sans-serif font (DejaVu Sans averages ~0.52 em per
/// lowercase letter; a little more leaves room for wider fonts).
fn text_width(px: f64, text: &str) -> i32 {
    (px * 0.56 * text.chars().count() as f64).ceil() as i32
}

fn max_text_width<'s>(px: f64, texts: impl IntoIterator<Item = &'s str>) -> i32 {
    texts
        .into_iter()
        .map(|t| text_width(px, t))
        .max()
        .unwrap_or(0)
}

fn draw_text(area: &Area, text: &str, at: (i32, i32), style: &TextStyle) -> DrawResult {
    area.draw(&Text::new(text.to_string(), at, style.clone()))
}

fn draw_line(area: &Area, from: (i32, i32), to: (i32, i32), style: ShapeStyle) -> DrawResult {
    area.draw(&PathElement::new(vec![from, to], style))
}

fn fill_rect(area: &Area, from: (i32, i32), to: (i32, i32), color: &RGBColor) -> DrawResult {
    area.draw(&Rectangle::new([from, to], color.filled()))
}

/// `0.734` -> `"73%"`.
fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

#[cfg(test)]
mod tests;
