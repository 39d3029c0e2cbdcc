//! The sizes of a WebAssembly module's function bodies, read from its code section.
//!
//! V8 compiles a WebAssembly function again with its optimizing compiler once it runs hot, in
//! memory that grows with the function: a Worker's largest function bounds that.

/// An unsigned LEB128 number at `*at`, moving past it.
fn leb128(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The size in bytes of each function body of `module`; `None` when it is not a WebAssembly
/// module this reads.
pub fn function_sizes(module: &[u8]) -> Option<Vec<usize>> {
    if module.get(..4)? != b"\0asm" {
        return None;
    }
    let mut at = 8;
    while at < module.len() {
        let id = *module.get(at)?;
        at += 1;
        let length = leb128(module, &mut at)?;
        let end = at.checked_add(length).filter(|&end| end <= module.len())?;
        if id == 10 {
            let mut inner = at;
            let count = leb128(module, &mut inner)?;
            let mut sizes = Vec::with_capacity(count.min(length));
            for _ in 0..count {
                let size = leb128(module, &mut inner)?;
                sizes.push(size);
                inner = inner.checked_add(size)?;
            }
            return (inner == end).then_some(sizes);
        }
        at = end;
    }
    Some(Vec::new())
}

/// Code bytes a Worker's largest function may have (see the module's comment).
pub const LARGEST_FUNCTION_BUDGET: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sizes_of_a_modules_function_bodies() {
        // A module with a type section and a code section of two bodies (3 and 130 bytes: a
        // two-byte length).
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend([1, 4, 1, 0x60, 0, 0]);
        let mut code = vec![2, 3, 0, 0x01, 0x0b, 0x82, 0x01];
        code.extend(std::iter::repeat_n(0x01, 129));
        code.push(0x0b);
        module.push(10);
        // The section's length, 137: two bytes too.
        assert_eq!(code.len(), 137);
        module.extend([0x89, 0x01]);
        module.extend(code);
        assert_eq!(function_sizes(&module), Some(vec![3, 130]));
        assert_eq!(function_sizes(b"not wasm"), None);
        // A section that runs past the module.
        let last = module.len() - 1;
        assert_eq!(function_sizes(&module[..last]), None);
        // A body that runs past its section: the section said one byte less.
        let mut short = module.clone();
        let at = short.len() - 139;
        assert_eq!(short[at], 0x89);
        short[at] = 0x88;
        short.push(0);
        assert_eq!(function_sizes(&short), None);
    }
}
