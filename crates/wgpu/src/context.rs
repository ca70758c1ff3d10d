//! Adapter choice and the device context shared by programs and sessions.
//!
//! The default choice is the best adapter by kind (discrete > integrated > virtual > other >
//! CPU), Metal or Vulkan first among equals; a name substring and `WGPU_BACKEND` (wgpu's
//! `Backends::from_env`) narrow it. The device is requested with the adapter's own limits
//! (the defaults cap storage bindings at 128 MiB) and with SHADER_F16, SUBGROUP and
//! TIMESTAMP_QUERY(+INSIDE_PASSES) when offered; every kernel has a portable path that
//! needs none of them, and [`DeviceFeatures`] records what is on.

use crate::error::{GpuError, Result};
use crate::wgsl::Shader;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which adapter to use. `name`: case-insensitive substring of the adapter name.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    pub name: Option<String>,
}

/// What one adapter offers, for `zaya-graph devices` and for choosing.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub shader_f16: bool,
    pub subgroups: bool,
    pub timestamp_query: bool,
    pub timestamp_query_inside_passes: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_storage_buffers_per_shader_stage: u32,
}

impl AdapterSummary {
    /// Whether the adapter is a software rasterizer on the host CPU (lavapipe, WARP,
    /// SwiftShader): the engine prefers the CPU backend to it and runs it compute-bound.
    pub fn is_software(&self) -> bool {
        self.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }
}

/// Optional features that were enabled on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceFeatures {
    pub shader_f16: bool,
    pub subgroups: bool,
    pub timestamp_query: bool,
    pub timestamp_query_inside_passes: bool,
}

/// An adapter, its device and queue, and the device's error sinks.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub features: DeviceFeatures,
    pub summary: AdapterSummary,
    /// Set by the device-lost callback; checked before every submission.
    lost: Arc<Mutex<Option<String>>>,
    /// Errors outside any error scope (wgpu's default handler would panic on them).
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// Pipelines by shader variant, shared by every program on this device (a variant's
    /// source never depends on the graph, so compiling it once is enough).
    pipelines: Mutex<HashMap<Shader, wgpu::ComputePipeline>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.summary.name)
            .field("backend", &self.summary.backend)
            .field("features", &self.features)
            .finish()
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    wgpu::Instance::new(desc)
}

fn summarize(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let f = adapter.features();
    let l = adapter.limits();
    AdapterSummary {
        name: info.name,
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: info.driver,
        driver_info: info.driver_info,
        shader_f16: f.contains(wgpu::Features::SHADER_F16),
        subgroups: f.contains(wgpu::Features::SUBGROUP),
        timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
        timestamp_query_inside_passes: f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
        max_buffer_size: l.max_buffer_size,
        max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
    }
}

/// Every adapter the enabled backends (or `WGPU_BACKEND`) see, best first.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let mut adapters = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(rank);
    adapters.iter().map(summarize).collect()
}

/// Lower is better: kind first, then backend.
fn rank(adapter: &wgpu::Adapter) -> (u8, u8) {
    let info = adapter.get_info();
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Metal | wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Dx12 => 1,
        wgpu::Backend::Gl => 2,
        _ => 3,
    };
    (kind, backend)
}

/// The optional features we use when the adapter offers them.
fn wanted_features(offered: wgpu::Features) -> wgpu::Features {
    offered
        & (wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
}

impl GpuContext {
    /// Opens the best adapter matching `choice` and requests a device with its full limits.
    pub fn new(choice: &AdapterChoice) -> Result<GpuContext> {
        let instance = instance();
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        adapters.sort_by_key(rank);
        let available: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?})", i.name, i.backend)
            })
            .collect();
        let wanted = choice.name.as_deref().map(str::to_lowercase);
        let adapter = adapters
            .into_iter()
            .find(|a| {
                wanted
                    .as_deref()
                    .is_none_or(|w| a.get_info().name.to_lowercase().contains(w))
            })
            .ok_or_else(|| GpuError::NoAdapter {
                wanted: match &choice.name {
                    Some(n) => format!("name containing \"{n}\""),
                    None => "any adapter".into(),
                },
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            })?;
        Self::from_adapter(adapter)
    }

    /// Requests a device from `adapter` with its full limits and our optional features.
    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<GpuContext> {
        let offered = adapter.features();
        let required_features = wanted_features(offered);
        let desc = wgpu::DeviceDescriptor {
            label: Some("zaya-wgpu"),
            required_features,
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let lost = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = sink.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut errors) = sink.lock() {
                errors.push(e.to_string());
            }
        }));
        let f = device.features();
        let features = DeviceFeatures {
            shader_f16: f.contains(wgpu::Features::SHADER_F16),
            subgroups: f.contains(wgpu::Features::SUBGROUP),
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
            timestamp_query_inside_passes: f
                .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
        };
        let summary = summarize(&adapter);
        Ok(GpuContext {
            adapter,
            device,
            queue,
            features,
            summary,
            lost,
            uncaptured,
            pipelines: Mutex::new(HashMap::new()),
        })
    }

    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Fails if the device was lost or reported an error outside our scopes.
    pub fn check_health(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(GpuError::DeviceLost(reason));
        }
        let pending: Vec<String> = self
            .uncaptured
            .lock()
            .map(|mut e| e.drain(..).collect())
            .unwrap_or_default();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(GpuError::Validation(pending.join("; ")))
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch
    /// into errors (instead of wgpu's panicking default handler).
    pub fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.check_health()?;
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let out = f();
        let oom = pollster::block_on(oom.pop());
        let validation = pollster::block_on(validation.pop());
        if let Some(e) = oom {
            return Err(GpuError::OutOfMemory(e.to_string()));
        }
        if let Some(e) = validation {
            return Err(GpuError::Validation(e.to_string()));
        }
        self.check_health()?;
        Ok(out)
    }

    /// The compute pipeline of `shader`, compiled on first use.
    pub fn pipeline(&self, shader: Shader) -> Result<wgpu::ComputePipeline> {
        if let Some(p) = self
            .pipelines
            .lock()
            .ok()
            .and_then(|m| m.get(&shader).cloned())
        {
            return Ok(p);
        }
        let label = shader.label();
        let device = &self.device;
        let pipeline = self
            .scoped(|| {
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&label),
                    source: wgpu::ShaderSource::Wgsl(shader.wgsl().into()),
                });
                let layout = explicit_layout(device, &shader);
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: layout.as_ref(),
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .map_err(|e| GpuError::Shader {
                kernel: label.clone(),
                message: e.to_string(),
            })?;
        if let Ok(mut m) = self.pipelines.lock() {
            m.insert(shader, pipeline.clone());
        }
        Ok(pipeline)
    }

    /// Blocks until the queue is idle.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::DeviceLost(e.to_string()))
    }
}

/// The pipeline layout of a generated kernel (params uniform, then its storage buffers);
/// template kernels use every binding they declare and take the derived layout.
fn explicit_layout(device: &wgpu::Device, shader: &Shader) -> Option<wgpu::PipelineLayout> {
    let Shader::Generated(g) = shader else {
        return None;
    };
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }];
    entries.extend(
        g.writable
            .iter()
            .enumerate()
            .map(|(k, &w)| wgpu::BindGroupLayoutEntry {
                binding: k as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: !w },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }),
    );
    let group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&g.label),
        entries: &entries,
    });
    Some(
        device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&g.label),
            bind_group_layouts: &[Some(&group)],
            immediate_size: 0,
        }),
    )
}
