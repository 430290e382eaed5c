//! The shipped `holds:core` component: the logic of `holds-guest`, exported as is.
#![cfg(target_arch = "wasm32")]

use holds_guest::component::Component;

holds_guest::component::bindings::export!(Component with_types_in holds_guest::component::bindings);
