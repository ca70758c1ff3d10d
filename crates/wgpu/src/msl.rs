//! Proof that every kernel lowers to Metal: parse and validate generated WGSL with naga,
//! then write MSL with `naga::back::msl`, binding each resource to an explicit Metal buffer
//! slot the way wgpu's Metal backend does (params uniform at slot 0, storage buffers in
//! binding order, a sizes buffer for runtime-sized arrays after them).

use crate::error::{GpuError, Result};
use naga::back::msl;

/// MSL 2.1: the oldest version with everything naga emits for these kernels (macOS 10.14+,
/// every Apple Silicon Mac).
pub const MSL_VERSION: (u8, u8) = (2, 1);

/// What the kernels may use: `unpack2x16float` (f16 data read from u32 words), which every
/// Metal, Vulkan, DX12 and GLES 3.1 device offers (wgpu's `SHADER_F16_IN_F32`), and the
/// subgroup operations of the fused matvec's subgroup variants (chosen only on devices with
/// `Features::SUBGROUP`).
pub const CAPABILITIES: naga::valid::Capabilities =
    naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32.union(naga::valid::Capabilities::SUBGROUP);

/// Parses and validates a WGSL module.
pub fn validate(label: &str, wgsl: &str) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let module = naga::front::wgsl::parse_str(wgsl).map_err(|e| GpuError::Shader {
        kernel: label.to_string(),
        message: e.emit_to_string(wgsl),
    })?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), CAPABILITIES)
        .validate(&module)
        .map_err(|e| GpuError::Shader {
            kernel: label.to_string(),
            message: e.emit_to_string(wgsl),
        })?;
    Ok((module, info))
}

/// Metal resource slots for the `main` entry point: every global with a binding gets the
/// buffer slot equal to its binding number; the array-sizes buffer follows them.
fn entry_point_resources(module: &naga::Module) -> msl::EntryPointResources {
    let mut res = msl::EntryPointResources::default();
    let mut max_slot = 0u8;
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = var.binding else { continue };
        let slot = binding.binding as u8;
        max_slot = max_slot.max(slot);
        let mutable = matches!(
            var.space,
            naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE)
        );
        res.resources.insert(
            binding,
            msl::BindTarget {
                buffer: Some(slot),
                mutable,
                ..Default::default()
            },
        );
    }
    res.sizes_buffer = Some(max_slot + 1);
    res
}

/// Validates `wgsl` and translates it to Metal Shading Language.
pub fn to_msl(label: &str, wgsl: &str) -> Result<String> {
    let (module, info) = validate(label, wgsl)?;
    let mut per_entry_point_map = msl::EntryPointResourceMap::new();
    per_entry_point_map.insert("main".to_string(), entry_point_resources(&module));
    let options = msl::Options {
        lang_version: MSL_VERSION,
        per_entry_point_map,
        fake_missing_bindings: false,
        zero_initialize_workgroup_memory: true,
        ..Default::default()
    };
    let pipeline = msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, "main".to_string())),
        ..Default::default()
    };
    msl::write_string(&module, &info, &options, &pipeline)
        .map(|(source, _)| source)
        .map_err(|e| GpuError::Msl {
            kernel: label.to_string(),
            message: e.to_string(),
        })
}
