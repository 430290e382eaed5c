//! The generated bindings of the `holds:core` world, and nothing else.
//!
//! A `kv-error` result of an import is the host's [`ImportError`]: a store error
//! kept whole on this side (converted to the flat WIT variant once, at the
//! boundary) or a trap.

wasmtime::component::bindgen!({
    world: "guest",
    path: "../../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "holds:core/kv.kv-error" => super::import_error::ImportError,
    },
});
