//! hayro-interpret only interprets pages into a `Device` (glyphs with transforms + Unicode via
//! `Glyph::as_unicode`); it has no text-assembly API. This is a minimal assembler: glyphs in
//! content-stream order, a space when the gap from the previous glyph's ink box is > 0.2 em,
//! a newline when the baseline moves by > 0.5 em or x jumps backwards.
use hayro_interpret::font::Glyph;
use hayro_interpret::hayro_cmap::BfString;
use hayro_interpret::hayro_syntax::Pdf;
use hayro_interpret::kurbo::{Affine, BezPath, Point, Rect, Shape};
use hayro_interpret::{
    BlendMode, ClipPath, Context, Device, DrawMode, DrawProps, Image, ImageDrawProps,
    InterpreterCache, InterpreterSettings, SoftMask, interpret_page,
};
use hayro_interpret::font::GlyphRun;

#[derive(Default)]
struct TextSink {
    text: String,
    prev: Option<(f64, f64, f64)>, // (ink right edge x, baseline y, size)
}

impl TextSink {
    fn glyph(&mut self, g: &Glyph<'_>, m: Affine) {
        let Some(u) = g.as_unicode() else { return };
        let s = match u {
            BfString::Char(c) => c.to_string(),
            BfString::String(s) => s,
        };
        let c = m.as_coeffs();
        let size = (c[0] * c[3] - c[1] * c[2]).abs().sqrt() * 1000.0; // glyph space is 1000 upem
        // Work in the glyph's own baseline frame so rotated text is handled too.
        let o = m * Point::ORIGIN;
        let d = m * Point::new(1000.0, 0.0) - o;
        let dl = d.hypot().max(1e-9);
        let (ux, uy) = (d.x / dl, d.y / dl);
        let along = |p: Point| p.x * ux + p.y * uy;
        let (ox, oy) = (along(o), -o.x * uy + o.y * ux);
        let right = match g {
            Glyph::Outline(og) => {
                let path = m * og.outline();
                let bb = path.bounding_box();
                if bb.width() > 0.0 || bb.height() > 0.0 {
                    [Point::new(bb.x0, bb.y0), Point::new(bb.x1, bb.y0), Point::new(bb.x0, bb.y1), Point::new(bb.x1, bb.y1)]
                        .into_iter().map(along).fold(f64::MIN, f64::max)
                } else { ox + 0.25 * size }
            }
            _ => ox + 0.5 * size,
        };
        if let Some((pr, py, ps)) = self.prev {
            let em = ps.max(size).max(1e-6);
            if (oy - py).abs() > 0.5 * em || ox < pr - 2.0 * em {
                self.text.push('\n');
            } else if ox - pr > 0.2 * em && !self.text.ends_with(' ') && !s.starts_with(' ') {
                self.text.push(' ');
            }
        }
        self.text.push_str(&s);
        self.prev = Some((right, oy, size));
    }
}

impl<'a> Device<'a> for TextSink {
    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {}
    fn push_clip_path(&mut self, _: &ClipPath) {}
    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}
    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        for g in run.glyphs() {
            self.glyph(g, props.transform * g.transform());
        }
    }
    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {}
    fn pop_clip(&mut self) {}
    fn pop_transparency_group(&mut self) {}
}

pub fn extract(data: Vec<u8>) -> Result<String, String> {
    let pdf = Pdf::new(data).map_err(|e| format!("{e:?}"))?;
    let cache = InterpreterCache::new();
    let mut out = String::new();
    for (i, page) in pdf.pages().iter().enumerate() {
        let mut ctx = Context::new(
            Affine::IDENTITY,
            Rect::new(0.0, 0.0, 1.0, 1.0),
            &cache,
            pdf.xref(),
            InterpreterSettings::default(),
        );
        let mut sink = TextSink::default();
        interpret_page(page, &mut ctx, &mut sink);
        if i > 0 {
            out.push('\x0c');
        }
        out.push_str(&sink.text);
        out.push('\n');
    }
    Ok(out)
}

