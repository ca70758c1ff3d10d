//! ZAYA: config, bundle loading and verification, CPU dequantization, decode-graph builder.
