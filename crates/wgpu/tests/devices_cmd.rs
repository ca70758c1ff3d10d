//! Compiles and exercises `src/cmd/devices.rs` (the `zaya-graph devices` subcommand) from
//! here, since the root package wires it in separately.

#[path = "../../../src/cmd/devices.rs"]
mod devices;

#[test]
fn devices_lists_adapters_as_text_and_json() {
    let adapters = zaya_wgpu::list_adapters();
    let text = devices::render_text(&adapters);
    for (i, a) in adapters.iter().enumerate() {
        assert!(text.contains(&format!("{i}: {}", a.name)), "{text}");
        let json = devices::to_json(a);
        assert_eq!(json["name"], a.name.as_str());
        assert!(
            json["limits"]["max_storage_buffer_binding_size"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
    eprint!("{text}");
    let code = devices::run(devices::DevicesArgs { json: false }).unwrap();
    let expected = if adapters.is_empty() {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    };
    assert_eq!(code, expected);
}
