fn main() {
    std::process::exit(redis_drill::cli::main());
}
