//! Optimizer passes, strategies and plans (see ARCHITECTURE.md).
