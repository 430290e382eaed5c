//! Temporary entry point until the clap CLI lands: `holds component --out FILE`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, cmd, flag, path] if cmd == "component" && flag == "--out" => {
            std::fs::write(path, holds::component::COMPONENT).expect("writing the component");
        }
        _ => {
            eprintln!("usage: holds component --out FILE");
            std::process::exit(2);
        }
    }
}
