//! The generated bindings of the `holds:core` world, and nothing else.

wasmtime::component::bindgen!({
    world: "guest",
    path: "../../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    // Traces record WIT values as they are.
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});
