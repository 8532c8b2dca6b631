fn main() {
    eprintln!("kube-standin: not built yet");
    std::process::exit(2);
}
