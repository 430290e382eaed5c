//! The generated bindings of the `holds:core` world, and nothing else.

wasmtime::component::bindgen!({
    world: "guest",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});
