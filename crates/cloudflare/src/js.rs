//! JavaScript values the runtime hands back, read as Rust text.

use wasm_bindgen::{JsCast, JsValue};

/// The message of a thrown value: an `Error`'s message, a thrown string, or its debug form.
pub fn error_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
