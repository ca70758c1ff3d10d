//! `zaya-graph devices [--json]`: the GPU adapters wgpu sees (honouring `WGPU_BACKEND`),
//! best first (the one a run picks by default), with what matters for running ZAYA: f16,
//! subgroups and timestamp queries, and the limits that size weight windows and grids.
//!
//! Exit code 0 when at least one adapter is found, 1 otherwise.
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DevicesArgs {
    /// Print a JSON array instead of the human-readable list.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    let adapters = zaya_wgpu::list_adapters();
    if args.json {
        let list: Vec<serde_json::Value> = adapters.iter().map(to_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", render_text(&adapters));
    }
    if adapters.is_empty() {
        eprintln!("error: no GPU adapter found (WGPU_BACKEND narrows the backends searched)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// One block per adapter; the first is the default choice.
pub fn render_text(adapters: &[zaya_wgpu::AdapterSummary]) -> String {
    let mut out = String::new();
    for (i, a) in adapters.iter().enumerate() {
        let default = if i == 0 { "  (default)" } else { "" };
        out += &format!("{i}: {}{default}\n", a.name);
        out += &format!("   backend {}, type {}\n", a.backend, a.device_type);
        out += &format!("   driver  {} {}\n", a.driver, a.driver_info);
        out += &format!(
            "   features: f16 {}, subgroups {}, timestamp queries {} (inside passes {})\n",
            yes_no(a.shader_f16),
            yes_no(a.subgroups),
            yes_no(a.timestamp_query),
            yes_no(a.timestamp_query_inside_passes)
        );
        out += &format!(
            "   limits: storage binding {}, buffer {}, workgroups/dim {}, storage buffers/stage {}\n",
            mib(a.max_storage_buffer_binding_size),
            mib(a.max_buffer_size),
            a.max_compute_workgroups_per_dimension,
            a.max_storage_buffers_per_shader_stage
        );
    }
    out
}

pub fn to_json(a: &zaya_wgpu::AdapterSummary) -> serde_json::Value {
    serde_json::json!({
        "name": a.name,
        "backend": a.backend,
        "device_type": a.device_type,
        "driver": a.driver,
        "driver_info": a.driver_info,
        "features": {
            "shader_f16": a.shader_f16,
            "subgroups": a.subgroups,
            "timestamp_query": a.timestamp_query,
            "timestamp_query_inside_passes": a.timestamp_query_inside_passes,
        },
        "limits": {
            "max_storage_buffer_binding_size": a.max_storage_buffer_binding_size,
            "max_buffer_size": a.max_buffer_size,
            "max_compute_workgroups_per_dimension": a.max_compute_workgroups_per_dimension,
            "max_storage_buffers_per_shader_stage": a.max_storage_buffers_per_shader_stage,
        },
    })
}
