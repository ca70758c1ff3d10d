//! Throughput of the CPU inner loop (`quant::dot_rows` at every level this CPU runs, `scalar`
//! being `dot_row`) per format, one thread; prints GB/s of weight bytes. Not a pass/fail
//! benchmark: it only guards against pathological slowness.
use std::time::Instant;
use zaya_ir::{DType, WeightFormat};
use zaya_model::PackedWeight;
use zaya_model::quant::{Row, simd};

#[test]
fn dot_row_throughput() {
    let (rows, cols) = (1024usize, 2048usize);
    let shape = [rows, cols];
    let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.01).cos()).collect();
    let formats = [
        WeightFormat::Affine {
            bits: 4,
            group_size: 32,
            scale_dtype: DType::F16,
        },
        WeightFormat::Affine {
            bits: 8,
            group_size: 32,
            scale_dtype: DType::F16,
        },
        WeightFormat::Mxfp4 { group_size: 32 },
        WeightFormat::Float { dtype: DType::F16 },
        WeightFormat::Float { dtype: DType::BF16 },
    ];
    for format in formats {
        let (p, s, b) = zaya_model::quant::row_layout(format, cols);
        let packed: Vec<u8> = (0..rows * p)
            .map(|i| ((i * 2654435761usize) >> 7) as u8)
            .collect();
        let scales = vec![0x20u8; rows * s];
        let biases = vec![0x20u8; rows * b];
        let w = PackedWeight::new(
            "bench",
            format,
            &shape,
            &packed,
            (s > 0).then_some(&scales[..]),
            (b > 0).then_some(&biases[..]),
        )
        .unwrap();
        let reps = 20;
        let mut out = vec![0.0f32; rows];
        for &level in simd::Level::available() {
            let t = Instant::now();
            let mut sink = 0.0f32;
            for _ in 0..reps {
                let all = Row {
                    packed: &packed,
                    scales: if s > 0 { &scales } else { &[] },
                    biases: if b > 0 { &biases } else { &[] },
                };
                simd::dot_rows_at(level, format, all, &x, &mut out);
                sink += out[rows / 2];
            }
            let secs = t.elapsed().as_secs_f64();
            let gbs = (w.stored_bytes() * reps) as f64 / secs / 1e9;
            let gelem = (rows * cols * reps as usize) as f64 / secs / 1e9;
            eprintln!(
                "{:>14} {level:>8}: {gbs:6.2} GB/s, {gelem:6.2} Gelem/s (sink {sink})",
                format.tag()
            );
            assert!(gelem > 0.05, "{} {level} too slow", format.tag());
        }
        // The scalar level is `dot_row` itself (bit for bit, NaN included).
        simd::dot_rows_at(
            simd::Level::Scalar,
            format,
            rows_of(&w, 1),
            &x,
            &mut out[..1],
        );
        assert_eq!(w.dot_row(1, &x).to_bits(), out[0].to_bits());
    }
}

fn rows_of<'a>(w: &PackedWeight<'a>, row: usize) -> Row<'a> {
    let (p, s, b) = zaya_model::quant::row_layout(w.format, w.cols());
    Row {
        packed: &w.packed[row * p..(row + 1) * p],
        scales: w.scales.map_or(&[], |v| &v[row * s..(row + 1) * s]),
        biases: w.biases.map_or(&[], |v| &v[row * b..(row + 1) * b]),
    }
}
