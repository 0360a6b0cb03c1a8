//! Charts drawn on the server as SVG with `plotters` (SVG backend only: no fonts, no bitmaps,
//! no script). Each chart is shown next to a table of the same numbers, so it is decoration
//! for the eye, and the table is what a screen reader reads.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours that keep a 3:1 contrast against white.
const COLOURS: [RGBColor; 6] = [
    RGBColor(29, 78, 216),
    RGBColor(4, 120, 87),
    RGBColor(185, 28, 28),
    RGBColor(146, 64, 14),
    RGBColor(91, 33, 182),
    RGBColor(55, 65, 81),
];

/// A horizontal bar chart of `(label, value)`, as an SVG document (no XML prolog).
pub fn bars(bars: &[(String, f64)]) -> String {
    let row = 26u32;
    let height = (bars.len() as u32).max(1) * row + 10;
    let width = 420u32;
    let label_w = 170i32;
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max).max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let font = ("sans-serif", 16).into_font();
        for (i, (label, value)) in bars.iter().enumerate() {
            let y = 5 + i as i32 * row as i32;
            let w = ((width as i32 - label_w - 60) as f64 * value / max).round() as i32;
            let colour = COLOURS[i % COLOURS.len()];
            let _ = root.draw(&Rectangle::new(
                [(label_w, y + 3), (label_w + w.max(1), y + row as i32 - 5)],
                colour.filled(),
            ));
            let left = TextStyle::from(font.clone())
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center));
            let short: String = label.chars().take(24).collect();
            let _ = root.draw(&Text::new(short, (label_w - 6, y + row as i32 / 2), left));
            let right = TextStyle::from(font.clone())
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            let _ = root.draw(&Text::new(
                trim(*value),
                (label_w + w.max(1) + 6, y + row as i32 / 2),
                right,
            ));
        }
        let _ = root.present();
    }
    svg
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chart_is_an_svg_with_its_labels() {
        let svg = super::bars(&[("Succeeded".into(), 7.0), ("Failed".into(), 2.0)]);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Succeeded") && svg.contains("\n7\n"), "{svg}");
    }
}
