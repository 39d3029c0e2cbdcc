
/// Host allocates the PDF bytes here before calling `extract_len`.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(len);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

/// Extracts the PDF's text; returns its length in bytes (usize::MAX on error).
#[no_mangle]
pub extern "C" fn extract_len(ptr: *const u8, len: usize) -> usize {
    let data = unsafe { std::slice::from_raw_parts(ptr, len) };
    let r: Result<String, String> = { lopdf::Document::load_mem(data).map_err(|e| e.to_string()).and_then(|doc| { let pages: Vec<u32> = doc.get_pages().keys().copied().collect(); doc.extract_text(&pages).map_err(|e| e.to_string()) }) };
    match r { Ok(s) => s.len(), Err(_) => usize::MAX }
}
