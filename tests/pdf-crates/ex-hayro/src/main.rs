use std::io::Write;
mod sink;
use sink::extract;

fn main() {
    let path = std::env::args().nth(1).expect("usage: FILE");
    let data = std::fs::read(&path).expect("read");
    let t = std::time::Instant::now();
    let r = extract(data);
    eprintln!("ELAPSED_US {}", t.elapsed().as_micros());
    match r {
        Ok(s) => std::io::stdout().write_all(s.as_bytes()).unwrap(),
        Err(e) => { eprintln!("ERROR {e}"); std::process::exit(2); }
    }
}
