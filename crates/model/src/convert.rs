//! `zaya-graph convert`: a float checkpoint (original or HF naming) to the published bundle
//! layout, byte for byte what the jang converter writes (`--format affine`), or true OCP MXFP4
//! as MLX's `mx.quantize(..., mode="mxfp4")` writes it (`--format mxfp4`).
//!
//! The rules (spec §5, `scripts/make_fixture.py`): tensors whose names match the passthrough
//! rules, that do not end in `.weight` or are not 2-D are cast to f16; every other weight is
//! quantized from its f16-rounded values (the embedding with `embed_bits`, affine); experts
//! are stacked as `switch_mlp.{gate,up,down}_proj` [E, out, in]. Files are laid out as the
//! safetensors crate lays them out (dtype descending, then name), in ~1 GB shards with an index.
//!
//! Streaming: the output headers are planned from the source headers alone, then each output
//! is produced in row chunks read from the source files with positioned reads and written with
//! positioned writes, so memory stays at a few chunk buffers whatever the model size. Output goes
//! to a temporary directory beside the destination, is verified, and is renamed into place only
//! when complete; on any error or cancellation the temporary directory is removed.
use crate::config::{Config, QuantMode};
use crate::error::ModelError;
use crate::hf_names::{self, Naming};
use crate::names::{self, EXPERT_PROJS};
use crate::quant;
use crate::quantize;
use crate::scan::{RawTensor, Scan};
use crate::verify::{self, Report};
use crate::writer;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use zaya_ir::DType;

/// Source bytes read per chunk (rows are never split).
const CHUNK_BYTES: usize = 8 << 20;

/// Files other than weights and configs that a bundle carries along unchanged.
const CARRIED_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
];

/// What the converter writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Linears: MLX affine (the published bundle) or OCP MXFP4.
    pub format: QuantMode,
    /// Bits of the linears (affine: 4 or 8; mxfp4: 4).
    pub bits: u8,
    /// Group size of the linears (affine: 32, 64, 128; mxfp4: 32).
    pub group_size: u32,
    /// Bits of the (always affine) embedding: 4 or 8.
    pub embed_bits: u8,
    /// Maximum data bytes per shard (a larger single tensor gets a shard of its own).
    pub shard_bytes: u64,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            format: QuantMode::Affine,
            bits: 4,
            group_size: 32,
            embed_bits: 8,
            shard_bytes: 1 << 30,
        }
    }
}

impl ConvertOptions {
    fn check(&self) -> Result<(), String> {
        match self.format {
            QuantMode::Affine if !matches!(self.bits, 4 | 8) => {
                return Err(format!("--bits {}: affine takes 4 or 8", self.bits));
            }
            QuantMode::Affine if !matches!(self.group_size, 32 | 64 | 128) => {
                return Err(format!(
                    "--group-size {}: affine takes 32, 64 or 128",
                    self.group_size
                ));
            }
            QuantMode::Mxfp4 if self.bits != 4 => {
                return Err(format!("--bits {}: mxfp4 is 4-bit", self.bits));
            }
            QuantMode::Mxfp4 if self.group_size != 32 => {
                return Err(format!(
                    "--group-size {}: mxfp4 blocks are 32 elements",
                    self.group_size
                ));
            }
            _ => {}
        }
        if !matches!(self.embed_bits, 4 | 8) {
            return Err(format!("--embed-bits {}: takes 4 or 8", self.embed_bits));
        }
        if self.shard_bytes == 0 {
            return Err("shard size must be > 0".into());
        }
        Ok(())
    }
}

/// Progress of a conversion, for a progress bar.
#[derive(Clone, Debug)]
pub enum Event {
    /// The output is planned: this many tensor bytes will be written.
    Planned {
        tensors: usize,
        bytes: u64,
        shards: usize,
    },
    /// This many more tensor bytes are written.
    Wrote(u64),
    /// All data written; verifying the result.
    Verifying,
}

/// What a finished conversion wrote.
#[derive(Debug)]
pub struct Summary {
    pub dst: PathBuf,
    pub naming: Naming,
    pub tensors: usize,
    pub tensor_bytes: u64,
    pub shards: usize,
    /// `verify` of the written bundle (usable, else the conversion failed).
    pub report: Report,
}

/// Converts the float checkpoint in `src` into a bundle at `dst` (which must not exist).
/// `cancel` is polled between chunks; `on_event` receives progress.
pub fn convert(
    src: &Path,
    dst: &Path,
    options: &ConvertOptions,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, ModelError> {
    options
        .check()
        .map_err(|reason| convert_error(dst, reason))?;
    if dst.exists() {
        return Err(convert_error(
            dst,
            "already exists; remove it or choose another destination",
        ));
    }
    let scan = Scan::read(src)?;
    if scan.config.quantization.is_some() {
        return Err(convert_error(
            src,
            "already quantized (config.json has `quantization`): convert needs a float checkpoint",
        ));
    }
    if let Some(first) = scan.problems(&scan.expected()).into_iter().next() {
        return Err(first);
    }
    let plan = Plan::build(&scan, options).map_err(|reason| convert_error(dst, reason))?;
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dst_name = dst
        .file_name()
        .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{dst_name}.partial-"))
        .tempdir_in(&parent)
        .map_err(|e| ModelError::io(&parent, e))?;
    on_event(Event::Planned {
        tensors: plan.outputs.len(),
        bytes: plan.outputs.iter().map(|o| o.bytes()).sum(),
        shards: plan.shards.len(),
    });
    plan.write(&scan, temp.path(), cancel, on_event)?;
    write_configs(src, &scan, options, temp.path())?;
    for name in CARRIED_FILES {
        let from = src.join(name);
        if from.is_file() {
            let to = temp.path().join(name);
            std::fs::copy(&from, &to).map_err(|e| ModelError::io(&to, e))?;
        }
    }
    on_event(Event::Verifying);
    let mut report = verify::verify(temp.path());
    if let Some(err) = report.error.clone().filter(|_| !report.usable) {
        return Err(convert_error(
            dst,
            format!("the written bundle does not verify: {err}"),
        ));
    }
    let written = temp.keep();
    if let Err(e) = std::fs::rename(&written, dst) {
        let _ = std::fs::remove_dir_all(&written);
        return Err(ModelError::io(dst, e));
    }
    report.dir = dst.to_path_buf();
    Ok(Summary {
        dst: dst.to_path_buf(),
        naming: scan.naming,
        tensors: plan.outputs.len(),
        tensor_bytes: plan.outputs.iter().map(|o| o.bytes()).sum(),
        shards: plan.shards.len(),
        report,
    })
}

fn convert_error(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Convert {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Rows of one source tensor: `rows` rows starting `offset` bytes into it.
#[derive(Clone, Debug)]
struct Segment {
    source: String,
    offset: usize,
    rows: usize,
}

/// How the data of some outputs is made.
#[derive(Clone, Debug)]
enum Job {
    /// A float tensor cast to f16.
    Cast { source: String, out: usize },
    /// One weight quantized row by row into its `.weight`, `.scales` (and `.biases`) outputs.
    Quantize {
        segments: Vec<Segment>,
        cols: usize,
        mode: QuantMode,
        bits: u32,
        group_size: usize,
        outs: Vec<usize>,
    },
}

/// One output tensor and where it goes.
#[derive(Clone, Debug)]
struct Output {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    shard: usize,
    /// Absolute offset in the shard file.
    offset: u64,
}

impl Output {
    fn bytes(&self) -> u64 {
        self.shape.iter().product::<usize>() as u64 * self.dtype.size() as u64
    }
}

/// A shard: its file name, header block and tensor count.
struct Shard {
    file: String,
    header: Vec<u8>,
    data_bytes: u64,
}

struct Plan {
    mode: QuantMode,
    jobs: Vec<Job>,
    /// In index order.
    outputs: Vec<Output>,
    shards: Vec<Shard>,
}

impl Plan {
    fn build(scan: &Scan, options: &ConvertOptions) -> Result<Plan, String> {
        let mut plan = Plan {
            mode: options.format,
            jobs: Vec::new(),
            outputs: Vec::new(),
            shards: Vec::new(),
        };
        let config = &scan.config;
        let sources = canonical_sources(scan);
        let mut expert_layers = BTreeMap::new();
        for (name, (file_name, t)) in &sources {
            if let Some(layer) = expert_source_layer(name, scan.naming, config) {
                expert_layers.insert(names::switch_mlp(layer, ""), layer);
                continue;
            }
            let module = name.strip_suffix(".weight");
            match module {
                Some(module) if !names::is_passthrough(name) && t.shape.len() == 2 => {
                    let embed = module == names::EMBED || module == names::LM_HEAD;
                    let bits = if embed {
                        options.embed_bits
                    } else {
                        options.bits
                    };
                    let mode = if embed {
                        QuantMode::Affine
                    } else {
                        options.format
                    };
                    let segment = Segment {
                        source: file_name.clone(),
                        offset: 0,
                        rows: t.shape[0],
                    };
                    plan.quantize(module, vec![segment], &t.shape, mode, bits, options);
                }
                _ => {
                    let out = plan.output(name.clone(), DType::F16, t.shape.clone());
                    plan.jobs.push(Job::Cast {
                        source: file_name.clone(),
                        out,
                    });
                }
            }
        }
        // Experts after everything else, layers in name order (as the jang converter does).
        for &layer in expert_layers.values() {
            for proj in EXPERT_PROJS {
                let (segments, shape) = expert_segments(scan, layer, proj);
                let module = names::switch_mlp(layer, proj);
                plan.quantize(
                    &module,
                    segments,
                    &shape,
                    options.format,
                    options.bits,
                    options,
                );
            }
        }
        if plan.mode == QuantMode::Mxfp4 {
            plan.order_quantized_first();
        }
        plan.place(options)?;
        Ok(plan)
    }

    fn output(&mut self, name: String, dtype: DType, shape: Vec<usize>) -> usize {
        self.outputs.push(Output {
            name,
            dtype,
            shape,
            shard: 0,
            offset: 0,
        });
        self.outputs.len() - 1
    }

    fn quantize(
        &mut self,
        module: &str,
        segments: Vec<Segment>,
        shape: &[usize],
        mode: QuantMode,
        bits: u8,
        options: &ConvertOptions,
    ) {
        let (lead, cols) = shape.split_at(shape.len() - 1);
        let cols = cols[0];
        let group = options.group_size as usize;
        let with_last = |last: usize| {
            let mut s = lead.to_vec();
            s.push(last);
            s
        };
        let mut outs = vec![self.output(
            format!("{module}.weight"),
            DType::U32,
            with_last(cols * bits as usize / 32),
        )];
        match mode {
            QuantMode::Affine => {
                for part in ["scales", "biases"] {
                    outs.push(self.output(
                        format!("{module}.{part}"),
                        DType::F16,
                        with_last(cols / group),
                    ));
                }
            }
            QuantMode::Mxfp4 => {
                outs.push(self.output(
                    format!("{module}.scales"),
                    DType::U8,
                    with_last(cols / group),
                ));
            }
        }
        self.jobs.push(Job::Quantize {
            segments,
            cols,
            mode,
            bits: u32::from(bits),
            group_size: group,
            outs,
        });
    }

    /// MLX's MXFP4 re-quantizer lists the quantized modules first (sorted), then the rest
    /// (sorted): only the index order changes.
    fn order_quantized_first(&mut self) {
        let quantized: Vec<usize> = self
            .jobs
            .iter()
            .filter_map(|j| match j {
                Job::Quantize { outs, .. } => Some(outs.clone()),
                Job::Cast { .. } => None,
            })
            .flatten()
            .collect();
        let mut first: Vec<usize> = quantized.clone();
        first.sort_by(|&a, &b| self.outputs[a].name.cmp(&self.outputs[b].name));
        let mut rest: Vec<usize> = (0..self.outputs.len())
            .filter(|i| !quantized.contains(i))
            .collect();
        rest.sort_by(|&a, &b| self.outputs[a].name.cmp(&self.outputs[b].name));
        let order: Vec<usize> = first.into_iter().chain(rest).collect();
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        self.outputs = order.iter().map(|&i| self.outputs[i].clone()).collect();
        for job in &mut self.jobs {
            match job {
                Job::Cast { out, .. } => *out = new_index[*out],
                Job::Quantize { outs, .. } => outs.iter_mut().for_each(|o| *o = new_index[*o]),
            }
        }
    }

    /// Shards in index order; inside a shard, the safetensors crate's layout and header.
    fn place(&mut self, options: &ConvertOptions) -> Result<(), String> {
        let specs: Vec<writer::TensorSpec> = self
            .outputs
            .iter()
            .map(|o| writer::TensorSpec {
                name: o.name.clone(),
                dtype: o.dtype,
                shape: o.shape.clone(),
            })
            .collect();
        let groups = writer::plan_shards(&specs, options.shard_bytes);
        let position: HashMap<&str, usize> = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.name.as_str(), i))
            .collect();
        let mut placed = Vec::new();
        let metadata = (self.mode == QuantMode::Mxfp4)
            .then(|| HashMap::from([("format".to_string(), "mlx".to_string())]));
        for (s, group) in groups.iter().enumerate() {
            let layout = writer::safetensors_layout(group, metadata.clone())?;
            for (name, offset) in &layout.offsets {
                placed.push((position[name.as_str()], s, *offset));
            }
            self.shards.push(Shard {
                file: writer::shard_name(s, groups.len()),
                header: layout.header,
                data_bytes: layout.data_bytes,
            });
        }
        for (i, s, offset) in placed {
            self.outputs[i].shard = s;
            self.outputs[i].offset = offset;
        }
        Ok(())
    }

    fn write(
        &self,
        scan: &Scan,
        dir: &Path,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), ModelError> {
        let mut files = Vec::new();
        for shard in &self.shards {
            let path = dir.join(&shard.file);
            let mut file = File::create(&path).map_err(|e| ModelError::io(&path, e))?;
            file.write_all(&shard.header)
                .map_err(|e| ModelError::io(&path, e))?;
            file.set_len(shard.header.len() as u64 + shard.data_bytes)
                .map_err(|e| ModelError::io(&path, e))?;
            files.push((path, file));
        }
        let mut reader = SourceReader::new(scan);
        let mut sink = Sink {
            files: &mut files,
            outputs: &self.outputs,
            written: vec![0; self.outputs.len()],
            cancel,
            on_event,
        };
        for job in &self.jobs {
            match job {
                Job::Cast { source, out } => cast_job(&mut reader, &mut sink, source, *out)?,
                Job::Quantize {
                    segments,
                    cols,
                    mode,
                    bits,
                    group_size,
                    outs,
                } => {
                    let q = QuantJob {
                        cols: *cols,
                        mode: *mode,
                        bits: *bits,
                        group_size: *group_size,
                        outs,
                    };
                    q.run(&mut reader, &mut sink, segments)?;
                }
            }
        }
        for (path, file) in &files {
            file.sync_all().map_err(|e| ModelError::io(path, e))?;
        }
        self.write_index(dir)
    }

    /// `model.safetensors.index.json` as the converter writes it: `total_size` is the sum of
    /// the shard file sizes, `format` names the profile.
    fn write_index(&self, dir: &Path) -> Result<(), ModelError> {
        let total: u64 = self
            .shards
            .iter()
            .map(|s| s.header.len() as u64 + s.data_bytes)
            .sum();
        let format = match self.mode {
            QuantMode::Affine => "mxfp4",
            QuantMode::Mxfp4 => "mxfp4-true",
        };
        let weight_map: Map<String, Value> = self
            .outputs
            .iter()
            .map(|o| (o.name.clone(), self.shards[o.shard].file.clone().into()))
            .collect();
        let index = json!({
            "metadata": { "format": format, "total_size": total },
            "weight_map": weight_map,
        });
        write_json(&dir.join(crate::scan::INDEX_FILE), &index, false)
    }
}

/// The source tensors under canonical (original) names, with the name in the files.
fn canonical_sources(scan: &Scan) -> BTreeMap<String, (String, &RawTensor)> {
    let canonical: HashMap<String, String> = match scan.naming {
        Naming::Original => HashMap::new(),
        Naming::Hf => names::expected_stored(&scan.config, DType::F16)
            .into_iter()
            .filter_map(|t| Some((hf_names::to_hf(&t.name, scan.config.num_layers)?, t.name)))
            .collect(),
    };
    scan.tensors
        .iter()
        .map(|(name, t)| {
            let canon = canonical.get(name).unwrap_or(name).clone();
            (canon, (name.clone(), t))
        })
        .collect()
}

/// The original MoE layer of an expert tensor of the source.
fn expert_source_layer(name: &str, naming: Naming, config: &Config) -> Option<usize> {
    let layer = hf_names::layer_index(name)?;
    match naming {
        Naming::Original => name.contains(names::LOCAL_EXPERTS).then_some(layer),
        Naming::Hf => (name == hf_names::gate_up(layer) || name == hf_names::experts_down(layer))
            .then_some(2 * layer + 1)
            .filter(|&l| l < config.num_layers),
    }
}

/// The rows of one stacked expert projection, gathered from the source's expert tensors.
fn expert_segments(scan: &Scan, layer: usize, proj: &str) -> (Vec<Segment>, Vec<usize>) {
    let c = &scan.config;
    let (e_count, i, h) = (c.num_experts, c.expert_intermediate, c.hidden_size);
    let shape = if proj == "down_proj" {
        vec![e_count, h, i]
    } else {
        vec![e_count, i, h]
    };
    let segments = match scan.naming {
        Naming::Original => (0..e_count)
            .map(|e| {
                let (source, offset, rows) = match proj {
                    "gate_proj" => (names::local_expert_fc1(layer, e), 0, i),
                    "up_proj" => (names::local_expert_fc1(layer, e), i, i),
                    _ => (names::local_expert_fc2(layer, e), 0, h),
                };
                let el = scan.tensors[&source].dtype.size();
                let width = if proj == "down_proj" { i } else { h };
                Segment {
                    source,
                    offset: offset * width * el,
                    rows,
                }
            })
            .collect(),
        Naming::Hf if proj == "down_proj" => vec![Segment {
            source: hf_names::experts_down(layer / 2),
            offset: 0,
            rows: e_count * h,
        }],
        Naming::Hf => {
            let source = hf_names::gate_up(layer / 2);
            let el = scan.tensors[&source].dtype.size();
            let skip = if proj == "up_proj" { i } else { 0 };
            (0..e_count)
                .map(|e| Segment {
                    source: source.clone(),
                    offset: (e * 2 * i + skip) * h * el,
                    rows: i,
                })
                .collect()
        }
    };
    (segments, shape)
}

/// Positioned reads from the source shards (no map, so the resident set stays small).
struct SourceReader<'a> {
    scan: &'a Scan,
    files: Vec<Option<File>>,
    buf: Vec<u8>,
}

impl<'a> SourceReader<'a> {
    fn new(scan: &'a Scan) -> Self {
        SourceReader {
            scan,
            files: (0..scan.shards.len()).map(|_| None).collect(),
            buf: Vec::new(),
        }
    }

    /// `len` bytes at `offset` into tensor `name`, widened to f32 after rounding to f16 (the
    /// converter quantizes and passes through the f16 values).
    fn read_f16_rounded(
        &mut self,
        name: &str,
        offset: usize,
        len: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        let t = &self.scan.tensors[name];
        let path = &self.scan.shards[t.shard].path;
        let file = match &mut self.files[t.shard] {
            Some(f) => f,
            slot => slot.insert(File::open(path).map_err(|e| ModelError::io(path, e))?),
        };
        self.buf.resize(len, 0);
        file.seek(SeekFrom::Start((t.start + offset) as u64))
            .and_then(|_| file.read_exact(&mut self.buf))
            .map_err(|e| ModelError::io(path, e))?;
        let n = len / t.dtype.size();
        out.clear();
        out.extend(
            (0..n).map(|k| half::f16::from_f32(quant::read_float(&self.buf, t.dtype, k)).to_f32()),
        );
        Ok(())
    }
}

/// Positioned writes into the output shards, with progress and cancellation.
struct Sink<'a, 'e> {
    files: &'a mut [(PathBuf, File)],
    outputs: &'a [Output],
    written: Vec<u64>,
    cancel: &'a AtomicBool,
    on_event: &'a mut (dyn FnMut(Event) + 'e),
}

impl Sink<'_, '_> {
    fn append(&mut self, out: usize, bytes: &[u8]) -> Result<(), ModelError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ModelError::Interrupted);
        }
        let o = &self.outputs[out];
        let (path, file) = &mut self.files[o.shard];
        file.seek(SeekFrom::Start(o.offset + self.written[out]))
            .and_then(|_| file.write_all(bytes))
            .map_err(|e| ModelError::io(&*path, e))?;
        self.written[out] += bytes.len() as u64;
        (self.on_event)(Event::Wrote(bytes.len() as u64));
        Ok(())
    }
}

fn cast_job(
    reader: &mut SourceReader,
    sink: &mut Sink,
    source: &str,
    out: usize,
) -> Result<(), ModelError> {
    let t = &reader.scan.tensors[source];
    let (total, el) = (t.end - t.start, t.dtype.size());
    let mut values = Vec::new();
    let mut bytes = Vec::new();
    let step = (CHUNK_BYTES / el) * el;
    let mut done = 0;
    while done < total {
        let len = step.min(total - done);
        reader.read_f16_rounded(source, done, len, &mut values)?;
        bytes.clear();
        bytes.extend(
            values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes()),
        );
        sink.append(out, &bytes)?;
        done += len;
    }
    Ok(())
}

struct QuantJob<'a> {
    cols: usize,
    mode: QuantMode,
    bits: u32,
    group_size: usize,
    outs: &'a [usize],
}

impl QuantJob<'_> {
    fn run(
        &self,
        reader: &mut SourceReader,
        sink: &mut Sink,
        segments: &[Segment],
    ) -> Result<(), ModelError> {
        let mut values = Vec::new();
        let (mut codes, mut scales, mut biases, mut exponents) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for seg in segments {
            let el = reader.scan.tensors[&seg.source].dtype.size();
            let row_bytes = self.cols * el;
            let rows_per_chunk = (CHUNK_BYTES / row_bytes).max(1);
            let mut row = 0;
            while row < seg.rows {
                let n = rows_per_chunk.min(seg.rows - row);
                let offset = seg.offset + row * row_bytes;
                reader.read_f16_rounded(&seg.source, offset, n * row_bytes, &mut values)?;
                codes.clear();
                scales.clear();
                biases.clear();
                exponents.clear();
                for r in values.chunks_exact(self.cols) {
                    match self.mode {
                        QuantMode::Affine => quantize::affine_row(
                            r,
                            self.group_size,
                            self.bits,
                            &mut codes,
                            &mut scales,
                            &mut biases,
                        ),
                        QuantMode::Mxfp4 => {
                            quantize::mxfp4_row(r, self.group_size, &mut codes, &mut exponents)
                        }
                    }
                }
                sink.append(self.outs[0], &quant::pack_codes(&codes, self.bits))?;
                match self.mode {
                    QuantMode::Affine => {
                        sink.append(self.outs[1], &u16_bytes(&scales))?;
                        sink.append(self.outs[2], &u16_bytes(&biases))?;
                    }
                    QuantMode::Mxfp4 => sink.append(self.outs[1], &exponents)?,
                }
                row += n;
            }
        }
        Ok(())
    }
}

fn u16_bytes(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The capabilities block jang writes into both configs.
fn capabilities() -> Value {
    json!({
        "reasoning_parser": "qwen3",
        "tool_parser": "zaya_xml",
        "think_in_template": false,
        "supports_tools": true,
        "supports_thinking": true,
        "family": "zaya",
        "modality": "text",
        "cache_type": "hybrid",
    })
}

/// `config.json` (the source's fields, in the legacy field set, plus the converter's) and
/// `jang_config.json`.
fn write_configs(
    src: &Path,
    scan: &Scan,
    options: &ConvertOptions,
    dir: &Path,
) -> Result<(), ModelError> {
    let path = src.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let source: Map<String, Value> =
        serde_json::from_str(&text).map_err(|source| ModelError::Json {
            file: path.clone(),
            source,
        })?;
    let hf_fields = !source.contains_key("ffn_hidden_size");
    let mut config = if hf_fields {
        legacy_fields(&scan.config, &source)
    } else {
        source
    };
    let mode = match options.format {
        QuantMode::Affine => "affine",
        QuantMode::Mxfp4 => "mxfp4",
    };
    let mut quantization = json!({
        "bits": options.bits,
        "group_size": options.group_size,
        "mode": mode,
        "embed_bits": options.embed_bits,
        "router_bits": 16,
        "expert_layout": "split_switch_mlp",
    });
    if options.format == QuantMode::Mxfp4 {
        quantization[names::EMBED] = json!({
            "group_size": options.group_size,
            "bits": options.embed_bits,
            "mode": "affine",
        });
    }
    config.insert("weight_format".into(), "mxfp4".into());
    config.insert("zaya_expert_layout".into(), "split_switch_mlp".into());
    config.insert(
        "tie_word_embeddings".into(),
        scan.config.tie_word_embeddings.into(),
    );
    config.insert("quantization".into(), quantization);
    config.insert("capabilities".into(), capabilities());
    let mxfp4 = options.format == QuantMode::Mxfp4;
    write_json(&dir.join("config.json"), &Value::Object(config), mxfp4)?;

    let mut jang_quant = json!({
        "method": mode,
        "group_size": options.group_size,
        "bits": options.bits,
        "embed_bits": options.embed_bits,
    });
    if mxfp4 {
        jang_quant["embed_method"] = "affine".into();
    }
    let jang = json!({
        "version": 2,
        "weight_format": "mxfp4",
        "profile": if mxfp4 { "MXFP4-true" } else { "MXFP4" },
        "cache_subtype": "zaya_cca",
        "source_model": { "name": "ZAYA1-8B", "org": "Zyphra", "architecture": "zaya" },
        "expert_layout": "split_switch_mlp",
        "quantization": jang_quant,
        "capabilities": capabilities(),
    });
    write_json(&dir.join("jang_config.json"), &jang, mxfp4)
}

/// The legacy (Megatron-style) config the original checkpoint carries, for a source whose
/// config uses HF `ZayaConfig` fields: the bundle's readers (jang, MLX ports) expect these.
fn legacy_fields(c: &Config, hf: &Map<String, Value>) -> Map<String, Value> {
    let theta = if c.rope_theta.fract() == 0.0 && c.rope_theta < 9e15 {
        json!(c.rope_theta as u64)
    } else {
        json!(c.rope_theta)
    };
    let dtype = hf
        .get("dtype")
        .or_else(|| hf.get("torch_dtype"))
        .cloned()
        .unwrap_or_else(|| "bfloat16".into());
    let fields = json!({
        "activation_func": "swiglu",
        "activation_func_fp8_input_store": false,
        "add_bias_linear": false,
        "architectures": ["ZayaForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bias_activation_fusion": true,
        "bos_token_id": c.bos_token_id,
        "cca": true,
        "cca_num_q_heads": c.num_q_heads,
        "cca_time0": 2,
        "cca_time1": 2,
        "dtype": dtype,
        "eos_token_id": c.eos_token_id,
        "ffn_hidden_size": 2 * c.expert_intermediate,
        "gated_linear_unit": true,
        "hidden_size": c.hidden_size,
        "head_dim": c.head_dim,
        "kv_channels": c.head_dim,
        "lm_head_bias": false,
    });
    let rest = json!({
        "mamba_cache_dtype": "float32",
        "max_position_embeddings": c.max_position_embeddings,
        "model_type": "zaya",
        "moe_router_topk": 1,
        "norm_epsilon": c.norm_eps,
        "normalization": "RMSNorm",
        "num_attention_heads": c.num_q_heads,
        "num_experts": c.num_experts,
        "num_hidden_layers": c.num_layers,
        "num_key_value_heads": c.num_kv_heads,
        "num_query_groups": c.num_kv_heads,
        "pad_token_id": c.pad_token_id,
        "partial_rotary_factor": c.partial_rotary_factor,
        "residual_in_fp32": true,
        "rope_scaling": false,
        "rope_theta": theta,
        "scale_residual_merge": true,
        "sliding_window": null,
        "use_cache": true,
        "vocab_size": c.vocab_size,
        "zaya_mlp_expansion": c.router_hidden,
        "zaya_use_eda": true,
        "zaya_use_mod": true,
    });
    let mut out = Map::new();
    for part in [fields, rest] {
        if let Value::Object(m) = part {
            out.extend(m);
        }
    }
    out
}

/// Pretty JSON with 2-space indent (as Python's `json.dumps(indent=2)`), optionally with a
/// trailing newline (the MXFP4 re-quantizer writes one, jang does not).
fn write_json(path: &Path, value: &Value, newline: bool) -> Result<(), ModelError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| ModelError::Json {
        file: path.to_path_buf(),
        source,
    })?;
    if newline {
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| ModelError::io(path, e))
}
